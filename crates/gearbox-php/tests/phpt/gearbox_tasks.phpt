--TEST--
GearmanClient tasks where Gearbox does what PECL means: a callback's non-zero return pauses the run and the next run goes on, a thrown exception likewise, clearCallbacks, wait(), a worker's exception text, recvData
--SKIPIF--
<?php if (getenv('GEARMAN_TEST_IMPL') !== 'gearbox') die('skip Gearbox behaviour (docs/compatibility.md)'); ?>
--FILE--
<?php
require __DIR__ . '/server.inc';
set_error_handler(function ($no, $msg) { echo "warning: ", strtok($msg, '('), "\n"; return true; });
$fn = test_function('gbtasks');
$pid = fork_worker($fn, 'scripted_job', 7);
$c = test_client();
$returns = [GEARMAN_PAUSE, true, null];
$c->setCompleteCallback(function (GearmanTask $t) use (&$returns) {
    echo "complete: ", $t->data(), " ", json_encode($t->recvData(2)), "\n";
    return array_shift($returns);
});
foreach (['a1', 'b2', 'c3'] as $w) $c->addTask($fn, $w);
var_dump($c->wait());
for ($runs = 1; !($c->runTasks() && $c->returnCode() === GEARMAN_SUCCESS) && $runs < 5; $runs++) {
    echo "paused with ", $c->returnCode(), "\n";
}
var_dump($runs, $c->wait(), $c->returnCode() === GEARMAN_NO_ACTIVE_FDS);
$c->setCompleteCallback(function (GearmanTask $t) { throw new LogicException("from the callback: " . $t->data()); });
$c->addTask($fn, 'd4');
$c->addTask($fn, 'e5');
try {
    $c->runTasks();
} catch (LogicException $e) {
    echo get_class($e), ": ", $e->getMessage(), "\n";
}
var_dump($c->clearCallbacks(), $c->runTasks(), $c->returnCode());
$c->setExceptionCallback(function (GearmanTask $t) { echo "exception: ", $t->data(), "\n"; });
$t = $c->addTask($fn, 'throw');
var_dump($t->sendWorkload('more'));
var_dump($c->runTasks());
pcntl_waitpid($pid, $status);
?>
--EXPECT--
bool(true)
complete: 3c [2,"3c"]
paused with 38
complete: 2b [2,"2b"]
paused with 1
complete: 1a [2,"1a"]
warning: GearmanClient::wait
int(3)
bool(false)
bool(true)
LogicException: from the callback: 5e
bool(true)
bool(true)
int(0)
warning: GearmanTask::sendWorkload
bool(false)
exception: thrown in the worker
bool(true)
