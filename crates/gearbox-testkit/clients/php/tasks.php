<?php
// php tasks.php HOST PORT FUNCTION [--created] KIND:WORKLOAD...
// Tasks added with addTask* and run together with one runTasks(). KIND is high, normal or low
// (addTaskHigh/addTask/addTaskLow) or high_bg, normal_bg, low_bg (the background variants).
// Prints "complete WORKLOAD RESULT" (and "fail WORKLOAD") per foreground task and, with
// --created, "created WORKLOAD" per task, all sorted, then "runTasks RC". The client's 15 s
// timeout turns a result the client never gets into a failed runTasks.
require __DIR__ . '/common.php';

$args = script_args();
$fn = array_shift($args) ?? bail("usage: tasks.php HOST PORT FUNCTION [--created] KIND:WORKLOAD...", 2);
$created = ($args[0] ?? '') === '--created';
if ($created) {
    array_shift($args);
}
$methods = [
    'high' => 'addTaskHigh',
    'normal' => 'addTask',
    'low' => 'addTaskLow',
    'high_bg' => 'addTaskHighBackground',
    'normal_bg' => 'addTaskBackground',
    'low_bg' => 'addTaskLowBackground',
];
$c = new_client(15000);
$lines = [];
if ($created) {
    $c->setCreatedCallback(function (GearmanTask $t, $wl) use (&$lines) {
        $lines[] = "created $wl";
    });
}
$c->setCompleteCallback(function (GearmanTask $t, $wl) use (&$lines) {
    $lines[] = "complete $wl " . $t->data();
});
$c->setFailCallback(function (GearmanTask $t, $wl) use (&$lines) {
    $lines[] = "fail $wl";
});
foreach ($args as $spec) {
    [$kind, $wl] = explode(':', $spec, 2);
    $method = $methods[$kind] ?? bail("bad task kind $kind", 2);
    $c->$method($fn, $wl, $wl) || bail("$method failed: " . $c->error());
}
$ok = @$c->runTasks();
sort($lines);
foreach ($lines as $l) {
    out($l);
}
out("runTasks " . ($ok ? "ok" : "failed") . " " . rc_name($c->returnCode()));
