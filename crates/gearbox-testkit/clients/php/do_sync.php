<?php
// php do_sync.php HOST PORT FUNCTION
// Foreground doNormal/doHigh/doLow with workloads "normal", "high", "low".
require __DIR__ . '/common.php';

[$fn] = script_args() + [null];
$fn !== null || bail("usage: do_sync.php HOST PORT FUNCTION", 2);
$c = new_client();
foreach (['doNormal' => 'normal', 'doHigh' => 'high', 'doLow' => 'low'] as $method => $wl) {
    $result = @$c->$method($fn, $wl);
    out("$method $result " . rc_name($c->returnCode()));
}
