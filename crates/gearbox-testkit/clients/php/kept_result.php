<?php
// php kept_result.php HOST PORT FUNCTION
// Gearbox's additions through an unchanged PECL client: a background job submitted with
// doBackground, its kept result read back through the text admin protocol (`result HANDLE`,
// one line "OK STATE SIZE [BASE64]"), and an epoch job (SUBMIT_JOB_EPOCH, which the extension
// has no method for, sent as one binary packet on a plain socket) listed by `show scheduled`.
// Prints "SUBMITTED RC", "RESULT STATE SIZE DATA", "EPOCH CREATED" and "SCHEDULED UNIQUE".
require __DIR__ . '/common.php';

$args = script_args();
$fn = $args[0] ?? bail("usage: kept_result.php HOST PORT FUNCTION", 2);
[$host, $port] = host_port();

$c = new_client();
$handle = $c->doBackground($fn, "hello", "php-kept-1");
out("SUBMITTED " . rc_name($c->returnCode()));

/** One admin command on a fresh connection: the reply's lines up to "." or the first line. */
function admin(string $host, int $port, string $line, bool $list): array
{
    $s = stream_socket_client("tcp://$host:$port", $errno, $errstr, 5) ?: bail("connect: $errstr");
    stream_set_timeout($s, 5);
    fwrite($s, "$line\r\n");
    $lines = [];
    while (($l = fgets($s)) !== false) {
        $l = rtrim($l, "\r\n");
        if (!$list) {
            return [$l];
        }
        if ($l === '.') {
            break;
        }
        $lines[] = $l;
    }
    fclose($s);
    return $lines;
}

$deadline = microtime(true) + 10;
do {
    [$line] = admin($host, $port, "result $handle", false);
    $fields = explode(' ', $line);
    if (($fields[1] ?? '') !== 'pending') {
        break;
    }
    usleep(50000);
} while (microtime(true) < $deadline);
if (($fields[0] ?? '') !== 'OK') {
    bail("result: $line");
}
out("RESULT {$fields[1]} {$fields[2]} " . base64_decode($fields[3] ?? ''));

// SUBMIT_JOB_EPOCH (36): function \0 unique \0 epoch \0 workload, REQ magic.
$body = implode("\0", [$fn, "php-epoch", (string)(time() + 3600), "later"]);
$s = stream_socket_client("tcp://$host:$port", $errno, $errstr, 5) ?: bail("connect: $errstr");
stream_set_timeout($s, 5);
fwrite($s, "\0REQ" . pack('NN', 36, strlen($body)) . $body);
$header = fread($s, 12);
if (strlen($header) !== 12) {
    bail("no answer to SUBMIT_JOB_EPOCH");
}
$type = unpack('N', substr($header, 4, 4))[1];
out($type === 8 ? "EPOCH CREATED" : "EPOCH answered with type $type");
fclose($s);

foreach (admin($host, $port, "show scheduled", true) as $l) {
    $f = explode("\t", $l);
    out("SCHEDULED {$f[2]}");
}
