<?php
// php submit_bg.php HOST PORT FUNCTION PRIO:WORKLOAD[:UNIQUE]...
// Background submissions with doHighBackground/doBackground/doLowBackground (PRIO = high,
// normal, low), in the order given. Prints "submitted PRIO WORKLOAD RC" and, for the test to
// pick up, "HANDLE WORKLOAD <handle>".
require __DIR__ . '/common.php';

$args = script_args();
$fn = array_shift($args) ?? bail("usage: submit_bg.php HOST PORT FUNCTION PRIO:WORKLOAD[:UNIQUE]...", 2);
$methods = ['high' => 'doHighBackground', 'normal' => 'doBackground', 'low' => 'doLowBackground'];
$c = new_client();
foreach ($args as $spec) {
    $parts = explode(':', $spec, 3);
    [$prio, $wl] = $parts;
    $unique = $parts[2] ?? null;
    $method = $methods[$prio] ?? bail("bad priority $prio", 2);
    $handle = $unique === null ? @$c->$method($fn, $wl) : @$c->$method($fn, $wl, $unique);
    out("submitted $prio $wl " . rc_name($c->returnCode()));
    out("HANDLE $wl $handle");
}
