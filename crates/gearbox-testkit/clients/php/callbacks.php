<?php
// php callbacks.php HOST PORT FUNCTION WORKLOAD...
// One addTask per workload (unique = workload) with every client callback installed: created,
// data, warning, status, complete, fail, exception. Events are collected per task (arrival order
// within the task) and printed per task, sorted by workload, after runTasks returns.
require __DIR__ . '/common.php';

$args = script_args();
$fn = array_shift($args) ?? bail("usage: callbacks.php HOST PORT FUNCTION WORKLOAD...", 2);
$c = new_client(15000);
$events = [];
$record = function (string $what, bool $with_data) use (&$events) {
    return function (GearmanTask $t) use (&$events, $what, $with_data) {
        $e = $what;
        if ($what === 'status') {
            $e .= " " . $t->taskNumerator() . "/" . $t->taskDenominator();
        } elseif ($with_data) {
            $e .= " " . $t->data();
        }
        $events[$t->unique()][] = $e;
    };
};
$c->setCreatedCallback($record('created', false));
$c->setDataCallback($record('data', true));
$c->setWarningCallback($record('warning', true));
$c->setStatusCallback($record('status', false));
$c->setCompleteCallback($record('complete', true));
$c->setFailCallback($record('fail', false));
$c->setExceptionCallback($record('exception', true));
foreach ($args as $wl) {
    $c->addTask($fn, $wl, null, $wl) || bail("addTask failed: " . $c->error());
}
$ok = @$c->runTasks();
ksort($events);
foreach ($events as $wl => $list) {
    out("$wl: " . implode(" | ", $list));
}
out("runTasks " . ($ok ? "ok" : "failed") . " " . rc_name($c->returnCode()));
