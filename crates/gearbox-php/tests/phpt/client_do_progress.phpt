--TEST--
GearmanClient: doNormal gathers WORK_DATA into the result (libgearman 1.1), skips warnings, keeps the status
--FILE--
<?php
require __DIR__ . '/server.inc';
$c = test_client();
foreach (['complete', 'fail', 'exception'] as $wl) {
    echo "-- $wl\n";
    for ($i = 0; $i < 10; $i++) {
        $r = $c->doNormal('cb', $wl);
        $rc = $c->returnCode();
        echo gearman_return_name($rc), " ", var_export($r, true);
        echo " ", json_encode($c->doStatus());
        echo "\n";
        if (!in_array($rc, [GEARMAN_WORK_DATA, GEARMAN_WORK_WARNING, GEARMAN_WORK_STATUS])) {
            break;
        }
    }
}
function gearman_return_name(int $rc): string {
    foreach (['SUCCESS', 'WORK_DATA', 'WORK_WARNING', 'WORK_STATUS', 'WORK_FAIL', 'WORK_EXCEPTION'] as $n) {
        if (constant("GEARMAN_$n") === $rc) return $n;
    }
    return "rc$rc";
}
?>
--EXPECT--
-- complete
SUCCESS 'd:completedone:complete' [0,0]
-- fail
WORK_FAIL '' [0,0]
-- exception
WORK_EXCEPTION '' [0,0]
