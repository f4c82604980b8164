<?php
// Helpers shared by the Gearbox interop test scripts (PECL gearman extension).
// Every script is run as: php SCRIPT HOST PORT [ARGS...] and prints deterministic lines on
// stdout for the Rust test to compare; diagnostics go to stderr.

error_reporting(E_ALL);
if (!extension_loaded('gearman')) {
    fwrite(STDERR, "the PHP gearman extension is not loaded\n");
    exit(2);
}
// libgearman's gearman_client_options_t value; the extension does not export the constant.
if (!defined('GEARMAN_CLIENT_EXCEPTION')) {
    define('GEARMAN_CLIENT_EXCEPTION', 1 << 7);
}

function host_port(): array
{
    global $argv;
    if (count($argv) < 3) {
        fwrite(STDERR, "usage: php {$argv[0]} HOST PORT [ARGS...]\n");
        exit(2);
    }
    return [$argv[1], (int)$argv[2]];
}

/** Arguments after HOST PORT. */
function script_args(): array
{
    global $argv;
    host_port();
    return array_slice($argv, 3);
}

function out(string $line): void
{
    fwrite(STDOUT, $line . "\n");
    fflush(STDOUT);
}

function bail(string $msg, int $code = 1): void
{
    fwrite(STDERR, $msg . "\n");
    exit($code);
}

/** A client with a bounded I/O timeout (libgearman's default is to wait forever). */
function new_client(int $timeout_ms = 10000): GearmanClient
{
    [$host, $port] = host_port();
    $c = new GearmanClient();
    if (!$c->addServer($host, $port)) {
        bail("GearmanClient::addServer failed: " . $c->error());
    }
    $c->setTimeout($timeout_ms);
    return $c;
}

function new_worker(int $timeout_ms = 10000): GearmanWorker
{
    [$host, $port] = host_port();
    $w = new GearmanWorker();
    if (!$w->addServer($host, $port)) {
        bail("GearmanWorker::addServer failed: " . $w->error());
    }
    $w->setTimeout($timeout_ms);
    return $w;
}

/** [known, running, numerator, denominator] as printed by the tests. */
function status_str($s): string
{
    if (!is_array($s) || count($s) < 4) {
        return "status=" . var_export($s, true);
    }
    return sprintf("known=%d running=%d num=%d den=%d", $s[0] ? 1 : 0, $s[1] ? 1 : 0, $s[2], $s[3]);
}

/** Blocks until the file $path exists, at most $secs seconds; returns whether it appeared. */
function wait_gate(string $path, float $secs = 10.0): bool
{
    $t = microtime(true);
    while (!file_exists($path)) {
        if (microtime(true) - $t > $secs) {
            return false;
        }
        usleep(20000);
    }
    return true;
}

function rc_name(int $rc): string
{
    static $names = null;
    if ($names === null) {
        $names = [];
        foreach (get_defined_constants(true)['gearman'] ?? [] as $name => $value) {
            if (strncmp($name, 'GEARMAN_', 8) === 0 && is_int($value) && !isset($names[$value])
                && !preg_match('/^GEARMAN_(COMMAND|TASK_STATE|CLIENT|WORKER|CON|JOB_PRIORITY|VERBOSE|DEFAULT|MAX|PACKET|SEND|RECV|ARGS|OPTION|UNIQUE|JOB_HANDLE|NON_BLOCKING|DONT_TRACK)/', $name)) {
                $names[$value] = $name;
            }
        }
    }
    return $names[$rc] ?? "rc#$rc";
}
