<?php
// php status.php HOST PORT HANDLE UNIQUE MODE
// Prints jobStatus(HANDLE) and jobStatusByUniqueKey(UNIQUE). MODE "now" queries once; "running"
// polls (up to 10 s) until both report running with a non-zero denominator (the worker's
// WORK_STATUS arrived); "gone" polls until both report unknown.
require __DIR__ . '/common.php';

[$handle, $unique, $mode] = script_args() + [null, null, null];
$mode !== null || bail("usage: status.php HOST PORT HANDLE UNIQUE now|running|gone", 2);

$deadline = microtime(true) + 10;
while (true) {
    // A fresh connection per poll: keeps every query independent of earlier replies.
    $c = new_client(5000);
    $s = $c->jobStatus($handle);
    $u = $c->jobStatusByUniqueKey($unique);
    $done = match ($mode) {
        'now' => true,
        // Running with the worker's first WORK_STATUS recorded.
        'running' => is_array($s) && is_array($u) && $s[1] && $u[1] && $s[3] > 0 && $u[3] > 0,
        'gone' => is_array($s) && is_array($u) && !$s[0] && !$u[0],
        default => bail("bad mode $mode", 2),
    };
    if ($done || microtime(true) > $deadline) {
        break;
    }
    usleep(20000);
}
out("handle " . status_str($s));
out("unique " . status_str($u));
