--TEST--
GearmanWorker: register() and grabJob(), the job answered by hand (once: libgearman cannot grab a second job this way)
--FILE--
<?php
require __DIR__ . '/server.inc';
$fn = test_function('grab');
$pid = fork_client(function () use ($fn) {
    $c = test_client();
    var_dump($c->doNormal($fn, 'grabbed', "$fn.u"), $c->returnCode());
});
ob_start();
$w = test_worker();
var_dump($w->register($fn));
// libgearman's grabJob() fails when no job is queued yet: wait until the client's is.
$c = test_client();
for ($i = 0; $i < 500 && !$c->jobStatusByUniqueKey("$fn.u")[0]; $i++) usleep(10000);
$job = $w->grabJob();
var_dump(get_class($job), $job->workload(), $job->functionName() === $fn);
var_dump($job->sendStatus(1, 2), $job->sendComplete(strrev($job->workload())), $job->returnCode());
$out = ob_get_clean();
pcntl_waitpid($pid, $status);
echo $out;
?>
--EXPECT--
string(7) "debbarg"
int(0)
bool(true)
string(10) "GearmanJob"
string(7) "grabbed"
bool(true)
bool(true)
bool(true)
int(0)
