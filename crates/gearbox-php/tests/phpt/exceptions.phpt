--TEST--
WORK_EXCEPTION: doNormal's return code, the exception callback (setting it sets the option); unique ids coalescing jobs
--FILE--
<?php
require __DIR__ . '/server.inc';
$fn = test_function('exceptions');
$pid = fork_worker($fn, 'scripted_job', 2);
$c = test_client();
var_dump(@$c->doNormal($fn, 'throw'), $c->returnCode() === GEARMAN_WORK_EXCEPTION);
var_dump($c->setExceptionCallback(function (GearmanTask $t) { echo "exception callback: ", $t->data(), "\n"; }));
$c->addTask($fn, 'exception');
var_dump($c->runTasks());
pcntl_waitpid($pid, $status);

// Jobs with the same unique id, submitted while no worker runs them yet, run once. (Tasks
// are sent newest first: the worker starts once the first one added is queued.)
$fn = test_function('coalesce');
$counter = sys_get_temp_dir() . "/$fn.count";
@unlink($counter);
$pid = fork_worker($fn, function (GearmanJob $job) use ($counter) {
    file_put_contents($counter, "x", FILE_APPEND);
    return 'ran ' . $job->workload();
}, 2, "$fn.last");
$c = test_client();
$c->setCompleteCallback(function (GearmanTask $t, $ctx) { echo "complete $ctx: ", $t->data(), "\n"; });
$c->addTask($fn, 'other', 'c', "$fn.last");
$c->addTask($fn, 'first', 'a', "$fn.same");
$c->addTask($fn, 'second', 'b', "$fn.same");
var_dump($c->runTasks());
pcntl_waitpid($pid, $status);
var_dump(strlen(file_get_contents($counter)));
@unlink($counter);
?>
--EXPECT--
string(0) ""
bool(true)
bool(true)
exception callback: exception data
bool(true)
complete b: ran second
complete a: ran second
complete c: ran other
bool(true)
int(2)
