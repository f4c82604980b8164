--TEST--
GearmanClient tasks: addTaskStatus, runs with no task, no server, a timeout that leaves the task for the next run, bad callbacks, the procedural API
--FILE--
<?php
require __DIR__ . '/server.inc';
set_error_handler(function ($no, $msg) { echo "warning: ", strtok($msg, '('), "\n"; return true; });
$fn = test_function('more');
$none = new GearmanClient();
var_dump($none->runTasks(), $none->returnCode());
var_dump(get_class($none->addTask($fn, 'x')), $none->runTasks(), $none->returnCode() === GEARMAN_NO_SERVERS);
$c = test_client();
var_dump($c->setCompleteCallback('no_such_function'), $c->returnCode());
$c->setStatusCallback(function (GearmanTask $t) use ($fn) {
    printf("status: known=%s running=%s %d/%d handle=%s fn=%s args=%d\n", var_export($t->isKnown(), true),
        var_export($t->isRunning(), true), $t->taskNumerator(), $t->taskDenominator(),
        var_export($t->jobHandle() !== '', true), var_export($t->functionName() === $t->jobHandle(), true),
        func_num_args());
});
$c->setCreatedCallback(function (GearmanTask $t) { echo "created: ", $t->unique(), "\n"; });
$h = $c->doBackground($fn, 'queued');
$s = $c->addTaskStatus($h, 'ctx');
var_dump(get_class($s), $s->jobHandle() === $h);
$c->addTaskStatus('H:no-such-job:1');
var_dump($c->runTasks(), $c->returnCode());
// Short only now: the calls above must not time out on a busy machine.
$c->setTimeout(500);
$c->addTask($fn, 'nobody runs it', null, 'pending-1');
var_dump($c->runTasks(), $c->returnCode() === GEARMAN_TIMEOUT);
var_dump($c->runTasks(), $c->returnCode() === GEARMAN_TIMEOUT);
$p = gearman_client_create();
gearman_client_add_server($p, test_host(), test_port());
var_dump(gearman_client_set_created_callback($p, function ($t) { echo "created procedurally: ", gearman_task_unique($t), "\n"; }));
$t = gearman_client_add_task_background($p, $fn, 'x', null, 'proc-1');
var_dump(gearman_task_is_known($t), gearman_task_function_name($t) === $fn, gearman_task_data_size($t));
var_dump(gearman_client_run_tasks($p), gearman_client_return_code($p), gearman_task_function_name($t));
var_dump(gearman_client_wait($p), gearman_client_return_code($p));
var_dump(gearman_client_clear_callbacks($p) !== null);
?>
--EXPECT--
bool(true)
int(0)
warning: GearmanClient::runTasks
string(11) "GearmanTask"
bool(false)
bool(true)
warning: GearmanClient::setCompleteCallback
bool(false)
int(0)
string(11) "GearmanTask"
bool(true)
status: known=false running=false 0/0 handle=true fn=true args=1
status: known=true running=false 0/0 handle=true fn=true args=2
bool(true)
int(0)
created: pending-1
warning: GearmanClient::runTasks
bool(false)
bool(true)
warning: GearmanClient::runTasks
bool(false)
bool(true)
bool(true)
bool(false)
bool(true)
int(0)
created procedurally: proc-1
bool(true)
int(0)
bool(false)
warning: gearman_client_wait
bool(false)
int(7)
bool(true)
