<?php
// php do.php HOST PORT FUNCTION WORKLOAD [UNIQUE]
// One foreground doNormal; prints "result <result> <return code>".
require __DIR__ . '/common.php';

[$fn, $wl, $unique] = script_args() + [null, null, null];
$wl !== null || bail("usage: do.php HOST PORT FUNCTION WORKLOAD [UNIQUE]", 2);
$c = new_client(15000);
$r = $unique === null ? @$c->doNormal($fn, $wl) : @$c->doNormal($fn, $wl, $unique);
out("result $r " . rc_name($c->returnCode()));
