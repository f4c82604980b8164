--TEST--
GearmanWorker: work() runs the function, whose return value, sendComplete, setReturn, sendFail or exception answers the client
--FILE--
<?php
require __DIR__ . '/server.inc';
$fn = test_function('work');
$cases = ['ret_string', 'ret_int', 'ret_null', 'ret_array', 'ret_bool', 'complete_then_return',
    'set_return_fail', 'throw', 'fail', 'exception', 'binary'];
$pid = fork_client(function () use ($fn, $cases) {
    $c = test_client();
    foreach ($cases as $wl) {
        $r = @$c->doNormal($fn, $wl);
        echo "client: $wl => ", var_export($r, true), " rc=", $c->returnCode(), "\n";
    }
});
$w = test_worker();
$log = [];
var_dump($w->addFunction($fn, function (GearmanJob $job, $context) use (&$log, $fn) {
    $wl = $job->workload();
    $log[] = sprintf("job %s fn=%s handle=%s unique=%d size=%d ctx=%s", $wl,
        var_export($job->functionName() === $fn, true), var_export(strlen($job->handle()) > 0, true),
        strlen($job->unique()), $job->workloadSize(), json_encode($context));
    switch ($wl) {
        case 'ret_string': return "result";
        case 'ret_int': return 5;
        case 'ret_null': return null;
        case 'ret_array': return [1];
        case 'ret_bool': return true;
        case 'complete_then_return': $job->sendComplete("explicit"); return "ignored";
        case 'set_return_fail': $job->setReturn(GEARMAN_WORK_FAIL); return "x";
        case 'throw': throw new RuntimeException("boom", 7);
        case 'fail': $job->sendFail(); return "after fail";
        case 'exception': $job->sendException("it broke"); return "after exception";
        case 'binary': return "a\0b";
    }
}, ['k' => 1]));
// After a job that failed or threw, libgearman's next work() returns true without running
// a job; call work() until the job ran, and log the call that ran it.
foreach ($cases as $case) {
    for ($try = 0; $try < 3 && !str_contains(end($log) ?: '', "job $case "); $try++) {
        try {
            $ok = @$w->work();
            $outcome = "work => " . var_export($ok, true) . " rc=" . $w->returnCode();
        } catch (Throwable $e) {
            $outcome = "work threw " . get_class($e) . " " . $e->getMessage() . " rc=" . $w->returnCode();
        }
    }
    $log[] = $outcome;
}
$w->setTimeout(200);
$log[] = "idle work => " . var_export(@$w->work(), true) . " timeout=" . var_export($w->returnCode() === GEARMAN_TIMEOUT, true);
pcntl_waitpid($pid, $status);
echo implode("\n", $log), "\n";
?>
--EXPECT--
bool(true)
client: ret_string => 'result' rc=0
client: ret_int => '5' rc=0
client: ret_null => '' rc=0
client: ret_array => 'Array' rc=0
client: ret_bool => '1' rc=0
client: complete_then_return => 'explicit' rc=0
client: set_return_fail => '' rc=24
client: throw => '' rc=23
client: fail => '' rc=24
client: exception => '' rc=23
client: binary => 'a' . "\0" . 'b' rc=0
job ret_string fn=true handle=true unique=36 size=10 ctx={"k":1}
work => true rc=0
job ret_int fn=true handle=true unique=36 size=7 ctx={"k":1}
work => true rc=0
job ret_null fn=true handle=true unique=36 size=8 ctx={"k":1}
work => true rc=0
job ret_array fn=true handle=true unique=36 size=9 ctx={"k":1}
work => true rc=0
job ret_bool fn=true handle=true unique=36 size=8 ctx={"k":1}
work => true rc=0
job complete_then_return fn=true handle=true unique=36 size=20 ctx={"k":1}
work => true rc=0
job set_return_fail fn=true handle=true unique=36 size=15 ctx={"k":1}
work => false rc=24
job throw fn=true handle=true unique=36 size=5 ctx={"k":1}
work threw RuntimeException boom rc=23
job fail fn=true handle=true unique=36 size=4 ctx={"k":1}
work => true rc=0
job exception fn=true handle=true unique=36 size=9 ctx={"k":1}
work => true rc=0
job binary fn=true handle=true unique=36 size=6 ctx={"k":1}
work => true rc=0
idle work => false timeout=true
