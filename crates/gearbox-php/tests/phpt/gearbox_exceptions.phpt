--TEST--
A client without the exceptions option gets a job's exception as WORK_FAIL (gearmand 1.1.20 garbles that packet and the client waits until its timeout: docs/compatibility.md)
--SKIPIF--
<?php if (getenv('GEARMAN_TEST_IMPL') !== 'gearbox') die('skip Gearbox behaviour (docs/compatibility.md)'); ?>
--FILE--
<?php
require __DIR__ . '/server.inc';
$fn = test_function('noexceptions');
$pid = fork_worker($fn, 'scripted_job', 3);
$off = new GearmanClient();
var_dump($off->addServer(test_host(), test_port(), false));
$off->setTimeout(10000);
var_dump(@$off->doNormal($fn, 'throw'), $off->returnCode() === GEARMAN_WORK_FAIL);
$off->setFailCallback(function (GearmanTask $t) { echo "fail callback\n"; });
$off->addTask($fn, 'exception');
var_dump($off->runTasks());
var_dump($off->enableExceptionHandler());
$off->setExceptionCallback(function (GearmanTask $t) { echo "exception callback: ", $t->data(), "\n"; });
$on = test_client();
$on->setExceptionCallback(function (GearmanTask $t) { echo "exception callback: ", $t->data(), "\n"; });
$on->addTask($fn, 'exception');
var_dump($on->runTasks());
pcntl_waitpid($pid, $status);
?>
--EXPECT--
bool(true)
string(0) ""
bool(true)
fail callback
bool(true)
bool(true)
exception callback: exception data
bool(true)
