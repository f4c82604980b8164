--TEST--
A client and a worker made before fork() keep working in the parent and in each child (Gearbox opens new connections after a fork)
--SKIPIF--
<?php if (getenv('GEARMAN_TEST_IMPL') !== 'gearbox') die('skip Gearbox behaviour (docs/php.md)'); ?>
--FILE--
<?php
require __DIR__ . '/server.inc';
$fn = test_function('fork');
$c = test_client();
$w = test_worker();
$w->addFunction($fn, fn(GearmanJob $j) => strtoupper($j->workload()) . ' by ' . $j->workload());
// Both connected before the forks: the client submits a job, the worker serves it.
$h = $c->doBackground($fn, 'before');
var_dump($w->work());
// A child that only exits: what it inherited must not disturb the parent's connections.
$pid = pcntl_fork();
if ($pid === 0) {
    exit(0);
}
pcntl_waitpid($pid, $status);
$children = [];
foreach (['one', 'two'] as $name) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        // Each child runs a job on the inherited client and serves one on the inherited worker.
        $r = $c->doBackground($fn, $name);
        $ok = $w->work();
        exit($r !== '' && $ok ? 0 : 1);
    }
    $children[] = $pid;
}
foreach ($children as $pid) {
    pcntl_waitpid($pid, $status);
    var_dump(pcntl_wexitstatus($status));
}
var_dump($c->doBackground($fn, 'after') !== '', $w->work(), $c->ping('still here'));
?>
--EXPECT--
bool(true)
int(0)
int(0)
bool(true)
bool(true)
bool(true)
