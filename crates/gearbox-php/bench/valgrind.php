<?php
// Exercise every class under valgrind (scripts/valgrind-php): a client's synchronous calls and
// tasks with callbacks, a forked worker with jobs that complete, fail, throw and send data,
// and the error paths. Small counts: valgrind runs PHP some fifty times slower.
//
// usage: php valgrind.php HOST PORT
[, $host, $port] = $argv;
$port = (int)$port;
$fn = 'valgrind_' . getmypid();
$pid = pcntl_fork();
if ($pid === 0) {
    $w = new GearmanWorker();
    $w->addServer($host, $port);
    $w->setTimeout(20000);
    $w->addFunction($fn, function (GearmanJob $job, $ctx) {
        switch ($job->workload()) {
            case 'fail': $job->sendFail(); return null;
            case 'throw': throw new RuntimeException('thrown');
            case 'data': $job->sendData('d'); $job->sendStatus(1, 2); $job->sendWarning('w'); return 'done';
            case 'stop': $GLOBALS['stop'] = true; return '';
            default: return strrev($job->workload()) . $ctx;
        }
    }, '!');
    for ($i = 0; $i < 200 && empty($GLOBALS['stop']); $i++) {
        try {
            $w->work();
        } catch (RuntimeException $e) {
        }
    }
    exit(0);
}
$c = new GearmanClient();
$c->addServer($host, $port);
$c->setTimeout(20000);
$ok = 0;
for ($i = 0; $i < 50; $i++) {
    $ok += $c->doNormal($fn, "abc$i") === strrev("abc$i") . '!';
}
@$c->doNormal($fn, 'fail');
@$c->doNormal($fn, 'throw');
$c->doNormal($fn, 'data');
foreach (['created', 'data', 'warning', 'status', 'complete', 'exception', 'fail'] as $cb) {
    $m = 'set' . ucfirst($cb) . 'Callback';
    $c->$m(function (GearmanTask $t, $ctx = null) use (&$ok) {
        $ok += strlen((string)$t->data()) > 0;
    });
}
for ($i = 0; $i < 60; $i++) {
    $c->addTask($fn, $i % 10 === 0 ? 'data' : "t$i", ['ctx' => $i]);
}
$c->addTaskBackground($fn, 'bg');
$c->runTasks();
$h = $c->doBackground($fn . '_nobody', 'x');
$c->jobStatus($h);
$c->addTaskStatus($h);
$c->runTasks();
$c->clearCallbacks();
$c->ping('ping');
$c->doBackground($fn, 'stop');
pcntl_waitpid($pid, $status);
echo "ok $ok\n";
