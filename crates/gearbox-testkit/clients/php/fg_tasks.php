<?php
// php fg_tasks.php HOST PORT FUNCTION PRIO:WORKLOAD...
// Foreground tasks added with addTaskHigh/addTask/addTaskLow and run together with runTasks.
// Prints "complete WORKLOAD RESULT" per task, sorted, then "runTasks RC".
require __DIR__ . '/common.php';

$args = script_args();
$fn = array_shift($args) ?? bail("usage: fg_tasks.php HOST PORT FUNCTION PRIO:WORKLOAD...", 2);
$methods = ['high' => 'addTaskHigh', 'normal' => 'addTask', 'low' => 'addTaskLow'];
$c = new_client(15000);
$lines = [];
$c->setCompleteCallback(function (GearmanTask $t, $wl) use (&$lines) {
    $lines[] = "complete $wl " . $t->data();
});
$c->setFailCallback(function (GearmanTask $t, $wl) use (&$lines) {
    $lines[] = "fail $wl";
});
foreach ($args as $spec) {
    [$prio, $wl] = explode(':', $spec, 2);
    $method = $methods[$prio] ?? bail("bad priority $prio", 2);
    $c->$method($fn, $wl, $wl) || bail("$method failed: " . $c->error());
}
$ok = @$c->runTasks();
sort($lines);
foreach ($lines as $l) {
    out($l);
}
out("runTasks " . ($ok ? "ok" : "failed") . " " . rc_name($c->returnCode()));
