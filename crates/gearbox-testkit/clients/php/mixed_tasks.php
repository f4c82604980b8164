<?php
// php mixed_tasks.php HOST PORT FUNCTION ROUNDS
// Foreground and background tasks of every priority in one runTasks() (issue 9): per round,
// addTask, addTaskBackground, addTaskHigh, addTaskHighBackground, addTaskLow,
// addTaskLowBackground, with workloads "<round>-<kind>". Prints "created WORKLOAD" per task and
// "complete WORKLOAD RESULT" per foreground task, sorted, then "runTasks RC". A server that
// sends a job's WORK_COMPLETE before its JOB_CREATED makes libgearman drop the result and wait
// for ever; the client's 15 s timeout turns that into a failed runTasks.
require __DIR__ . '/common.php';

$args = script_args();
$fn = $args[0] ?? bail("usage: mixed_tasks.php HOST PORT FUNCTION [ROUNDS]", 2);
$rounds = (int)($args[1] ?? 1);
$methods = [
    'normal' => 'addTask',
    'normal_bg' => 'addTaskBackground',
    'high' => 'addTaskHigh',
    'high_bg' => 'addTaskHighBackground',
    'low' => 'addTaskLow',
    'low_bg' => 'addTaskLowBackground',
];
$c = new_client(15000);
$lines = [];
$c->setCreatedCallback(function (GearmanTask $t, $wl) use (&$lines) {
    $lines[] = "created $wl";
});
$c->setCompleteCallback(function (GearmanTask $t, $wl) use (&$lines) {
    $lines[] = "complete $wl " . $t->data();
});
$c->setFailCallback(function (GearmanTask $t, $wl) use (&$lines) {
    $lines[] = "fail $wl";
});
for ($r = 1; $r <= $rounds; $r++) {
    foreach ($methods as $kind => $method) {
        $wl = "$r-$kind";
        $c->$method($fn, $wl, $wl) || bail("$method failed: " . $c->error());
    }
}
$ok = @$c->runTasks();
sort($lines);
foreach ($lines as $l) {
    out($l);
}
out("runTasks " . ($ok ? "ok" : "failed") . " " . rc_name($c->returnCode()));
