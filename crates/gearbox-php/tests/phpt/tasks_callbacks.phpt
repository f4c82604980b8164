--TEST--
GearmanClient tasks: addTask variants, runTasks, every callback with the task's state and context, tasks released after the run
--FILE--
<?php
require __DIR__ . '/server.inc';
$fn = test_function('tasks');
$pid = fork_worker($fn, 'scripted_job', 5, "$fn.1");
$c = test_client();
foreach (['created', 'data', 'warning', 'status', 'complete', 'exception', 'fail', 'workload'] as $cb) {
    $m = 'set' . ucfirst($cb) . 'Callback';
    var_dump($c->$m(function (GearmanTask $t) use ($cb, $fn) {
        $ctx = func_num_args() > 1 ? json_encode(func_get_arg(1)) : 'none';
        printf("%s: fn=%s unique=%s handle=%s known=%s running=%s status=%s/%s data=%s size=%s rc=%d ctx=%s\n",
            $cb, var_export($t->functionName() === $fn, true), str_replace($fn, 'FN', $t->unique()), var_export($t->jobHandle() !== '', true),
            var_export($t->isKnown(), true), var_export($t->isRunning(), true), $t->taskNumerator(),
            $t->taskDenominator(), var_export($t->data(), true), $t->dataSize(), $t->returnCode(), $ctx);
    }));
}
$tasks = [
    $c->addTask($fn, 'progress', ['c' => 1], "$fn.1"),
    $c->addTaskHigh($fn, 'fail', null, "$fn.2"),
    $c->addTaskLow($fn, 'exception', 'ctx3', "$fn.3"),
    $c->addTask($fn, 12345, 0, "$fn.4"),
    $c->addTaskBackground($fn, 'bg', 'bgctx', "$fn.5"),
];
$t = $tasks[0];
var_dump(get_class($t), $t->functionName() === $fn, $t->unique() === "$fn.1", $t->jobHandle(), $t->isKnown(),
    $t->isRunning(), $t->taskNumerator(), $t->data(), $t->dataSize(), $t->returnCode());
var_dump($c->runTasks(), $c->returnCode());
var_dump($t->functionName(), $t->unique(), $t->jobHandle(), $t->isKnown(), $t->data(), $t->dataSize(), $t->taskNumerator());
var_dump($c->runTasks(), $c->returnCode());
$u = $c->addTask($fn, 'x');
var_dump(strlen($u->unique()));
pcntl_waitpid($pid, $status);
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
string(11) "GearmanTask"
bool(true)
bool(true)
string(0) ""
bool(false)
bool(false)
int(0)
string(0) ""
int(0)
int(0)
created: fn=true unique=FN.5 handle=true known=true running=false status=0/0 data='' size=0 rc=0 ctx="bgctx"
created: fn=true unique=FN.4 handle=true known=true running=false status=0/0 data='' size=0 rc=0 ctx=0
created: fn=true unique=FN.3 handle=true known=true running=false status=0/0 data='' size=0 rc=0 ctx="ctx3"
created: fn=true unique=FN.2 handle=true known=true running=false status=0/0 data='' size=0 rc=0 ctx=null
created: fn=true unique=FN.1 handle=true known=true running=false status=0/0 data='' size=0 rc=0 ctx={"c":1}
fail: fn=true unique=FN.2 handle=true known=false running=false status=0/0 data='' size=0 rc=0 ctx=null
complete: fn=true unique=FN.4 handle=true known=false running=false status=0/0 data='54321' size=5 rc=0 ctx=0
data: fn=true unique=FN.1 handle=true known=true running=true status=0/0 data='d1' size=2 rc=0 ctx={"c":1}
warning: fn=true unique=FN.1 handle=true known=true running=true status=0/0 data='w1' size=2 rc=0 ctx={"c":1}
status: fn=true unique=FN.1 handle=true known=true running=true status=1/2 data='' size=0 rc=0 ctx={"c":1}
complete: fn=true unique=FN.1 handle=true known=false running=false status=1/2 data='result' size=6 rc=0 ctx={"c":1}
exception: fn=true unique=FN.3 handle=true known=false running=false status=0/0 data='exception data' size=14 rc=0 ctx="ctx3"
bool(true)
int(0)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
bool(true)
int(0)
int(36)
