--TEST--
GearmanJob: sendData, sendWarning and sendStatus reach the client; a running background job's status
--FILE--
<?php
require __DIR__ . '/server.inc';
$fn = test_function('progress');
$flag = sys_get_temp_dir() . "/$fn.seen";
@unlink($flag);
$pid = fork_client(function () use ($fn, $flag) {
    $c = test_client();
    var_dump($c->doNormal($fn, 'chunks'), $c->returnCode());
    $h = $c->doBackground($fn, 'slow');
    for ($i = 0; $i < 500; $i++) {
        $s = $c->jobStatus($h);
        if ($s[2] === 7) break;
        usleep(10000);
    }
    echo "running: ", json_encode($s), "\n";
    touch($flag);
    for ($i = 0; $i < 500; $i++) {
        $s = $c->jobStatus($h);
        if (!$s[0]) break;
        usleep(10000);
    }
    echo "finished: ", json_encode($s), "\n";
});
$w = test_worker();
$w->addFunction($fn, function (GearmanJob $job) use ($flag) {
    if ($job->workload() === 'chunks') {
        var_dump($job->sendData("part1,"), $job->returnCode());
        $job->sendWarning("careful,");
        $job->sendStatus(1, 3);
        $job->sendData("part2,");
        return "last";
    }
    $job->sendStatus(7, 9);
    for ($i = 0; $i < 500 && !file_exists($flag); $i++) usleep(10000);
    return "done";
});
ob_start();
var_dump($w->work(), $w->work());
$out = ob_get_clean();
pcntl_waitpid($pid, $status);
echo $out;
@unlink($flag);
?>
--EXPECT--
string(16) "part1,part2,last"
int(0)
running: [true,true,7,9]
finished: [false,false,0,0]
bool(true)
int(0)
bool(true)
bool(true)
