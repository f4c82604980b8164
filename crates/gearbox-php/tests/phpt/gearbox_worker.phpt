--TEST--
GearmanWorker where Gearbox does what PECL means: grabJob() more than once, a register()-only function's job fails, no empty work() after a failure, ping()
--SKIPIF--
<?php if (getenv('GEARMAN_TEST_IMPL') !== 'gearbox') die('skip Gearbox behaviour (docs/compatibility.md)'); ?>
--FILE--
<?php
require __DIR__ . '/server.inc';
$fn = test_function('gearbox');
$pid = fork_client(function () use ($fn) {
    $c = test_client();
    foreach (['one', 'two'] as $wl) {
        var_dump($c->doNormal("$fn.grab", $wl), $c->returnCode());
    }
    var_dump(@$c->doNormal("$fn.nocb", 'x'), $c->returnCode() === GEARMAN_WORK_FAIL);
    foreach (['fail', 'ok'] as $wl) {
        var_dump(@$c->doNormal("$fn.work", $wl), $c->returnCode());
    }
});
ob_start();
$w = test_worker();
var_dump($w->register("$fn.grab"));
foreach ([1, 2] as $_) {
    $job = $w->grabJob();
    var_dump($job->sendComplete(strtoupper($job->workload())));
}
var_dump($w->unregister("$fn.grab"), $w->register("$fn.nocb"));
var_dump($w->work(), $w->returnCode() === GEARMAN_INVALID_FUNCTION_NAME);
$runs = 0;
var_dump($w->addFunction("$fn.work", function (GearmanJob $job) use (&$runs) {
    $runs++;
    if ($job->workload() === 'fail') {
        $job->sendFail();
    }
    return 'done';
}));
var_dump($w->work(), $w->work(), $runs);
var_dump($w->ping('hello'), $w->returnCode());
// PECL 2.1.5's additions to the worker, which Debian's 2.1.0 lacks.
var_dump($w->enableExceptionHandler(), gearman_worker_enable_exception_handler($w));
var_dump((new ReflectionMethod('GearmanWorker', 'addServer'))->getNumberOfParameters());
var_dump((new GearmanWorker())->addServer('127.0.0.1', 1, false));
$out = ob_get_clean();
pcntl_waitpid($pid, $status);
echo $out;
?>
--EXPECTF--
string(3) "ONE"
int(0)
string(3) "TWO"
int(0)
string(0) ""
bool(true)
string(0) ""
int(24)
string(4) "done"
int(0)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)

Warning: GearmanWorker::work(): no PHP function was added for this function (register() only) in %s on line %d
bool(false)
bool(true)
bool(true)
bool(true)
bool(true)
int(2)
bool(true)
int(0)
bool(true)
bool(true)
int(3)
bool(true)
