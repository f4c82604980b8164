<?php
// php coalesce.php HOST PORT FUNCTION UNIQUE GATE
// Two addTask() calls with the same function, payload and unique on ONE client connection; the
// server must coalesce them into one job and deliver its packets to both tasks. The worker
// ("gated" behaviour) sends WORK_STATUS 1/2 and waits for GATE; on the first status callback this
// script asks a second connection for jobStatusByUniqueKey(UNIQUE), then opens the gate.
require __DIR__ . '/common.php';

[$fn, $unique, $gate] = script_args() + [null, null, null];
$gate !== null || bail("usage: coalesce.php HOST PORT FUNCTION UNIQUE GATE", 2);

$c = new_client(15000);
$handles = [];
$status_calls = 0;
$c->setCreatedCallback(function (GearmanTask $t) use (&$handles) {
    $handles[] = $t->jobHandle();
    out("created " . $t->unique());
});
$c->setStatusCallback(function (GearmanTask $t) use (&$status_calls, $gate) {
    $status_calls++;
    out("status " . $t->unique() . " " . $t->taskNumerator() . "/" . $t->taskDenominator());
    if ($status_calls === 1) {
        $q = new_client(5000);
        out("by-unique while running: " . status_str($q->jobStatusByUniqueKey($t->unique())));
        touch($gate);
    }
});
$c->setCompleteCallback(function (GearmanTask $t) {
    out("complete " . $t->unique() . " " . $t->data());
});
$c->setFailCallback(function (GearmanTask $t) {
    out("fail " . $t->unique());
});
$c->addTask($fn, "payload", null, $unique) || bail("addTask failed");
$c->addTask($fn, "payload", null, $unique) || bail("addTask failed");
$ok = @$c->runTasks();
out("runTasks " . ($ok ? "ok" : "failed") . " " . rc_name($c->returnCode()));
out("same handle: " . (count($handles) === 2 && $handles[0] === $handles[1] && $handles[0] !== '' ? "yes" : "no"));
$q = new_client(5000);
out("by-unique after: " . status_str($q->jobStatusByUniqueKey($unique)));
