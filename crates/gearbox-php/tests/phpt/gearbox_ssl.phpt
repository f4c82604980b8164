--TEST--
TLS (Gearbox's own): setSSL() and the gearman.ssl ini settings for a client and a worker; settings that cannot be used are refused, never a fallback to plaintext
--SKIPIF--
<?php if (getenv('GEARMAN_TEST_IMPL') !== 'gearbox') die('skip Gearbox behaviour (docs/php.md)'); ?>
--FILE--
<?php
require __DIR__ . '/server.inc';
// tests/phpt.rs runs a second gearboxd serving TLS only, with a test CA.
$host = test_host();
$port = (int)getenv('GEARMAN_TEST_SSL_PORT');
$ca = getenv('GEARMAN_TEST_SSL_CA');
$fn = test_function('ssl');

// A worker over TLS in a child serves the jobs below.
$pid = pcntl_fork();
if ($pid === 0) {
    $w = new GearmanWorker();
    $ok = $w->setSSL(true, $ca) && $w->addServer($host, $port);
    $w->setTimeout(10000);
    $w->addFunction($fn, fn(GearmanJob $j) => strtoupper($j->workload()));
    for ($i = 0; $i < 3 && $ok; $i++) $ok = $w->work();
    exit($ok ? 0 : 1);
}

echo "-- setSSL() on a client\n";
$c = new GearmanClient();
var_dump($c->setSSL(true, $ca));
var_dump($c->addServer($host, $port));
$c->setTimeout(10000);
var_dump($c->doNormal($fn, 'over tls'), $c->returnCode() === GEARMAN_SUCCESS);

echo "-- the procedural function\n";
$p = gearman_client_create();
var_dump(gearman_client_set_ssl($p, true, $ca));
var_dump(gearman_client_add_server($p, $host, $port));
gearman_client_set_timeout($p, 10000);
var_dump(gearman_client_do_normal($p, $fn, 'procedural'));

echo "-- the ini settings, for every new client\n";
ini_set('gearman.ssl_ca_file', $ca);
ini_set('gearman.ssl', '1');
$i = new GearmanClient();
var_dump($i->addServer($host, $port));
$i->setTimeout(10000);
var_dump($i->doNormal($fn, 'from the ini'));
ini_set('gearman.ssl', '0');

pcntl_waitpid($pid, $status);
echo "worker exit: ", pcntl_wexitstatus($status), "\n";

echo "-- plaintext on the TLS port fails\n";
$plain = new GearmanClient();
$plain->addServer($host, $port, false);
$plain->setTimeout(3000);
var_dump(@$plain->doBackground($fn, 'x'), $plain->returnCode() !== GEARMAN_SUCCESS);

echo "-- a CA file that cannot be read\n";
$bad = new GearmanClient();
var_dump(@$bad->setSSL(true, '/nonexistent/ca.pem'));
// 49: libgearman's GEARMAN_INVALID_ARGUMENT, for which PECL defines no constant.
var_dump($bad->returnCode() === 49, str_contains($bad->error(), '/nonexistent/ca.pem'));
try {
    $bad->addServer($host, $port);
    echo "added\n";
} catch (GearmanException $e) {
    echo "refused: ", str_starts_with($e->getMessage(), 'TLS: ') ? 'TLS reason' : $e->getMessage(), "\n";
}
var_dump(@$bad->addServer($host, $port, false));
echo "-- setSSL(false) goes back to plaintext, explicitly\n";
var_dump($bad->setSSL(false), $bad->addServer($host, test_port()));
var_dump($bad->doNormal('reverse', 'abc'));

echo "-- a bad ini setting is reported at construction and refuses servers\n";
ini_set('gearman.ssl_ca_file', '/nonexistent/ca.pem');
ini_set('gearman.ssl', '1');
$w = @new GearmanWorker();
try {
    $w->addServer($host, $port);
    echo "added\n";
} catch (GearmanException $e) {
    echo "worker refused: ", str_contains($e->getMessage(), '/nonexistent/ca.pem') ? 'TLS reason' : $e->getMessage(), "\n";
}
?>
--EXPECT--
-- setSSL() on a client
bool(true)
bool(true)
string(8) "OVER TLS"
bool(true)
-- the procedural function
bool(true)
bool(true)
string(10) "PROCEDURAL"
-- the ini settings, for every new client
bool(true)
string(12) "FROM THE INI"
worker exit: 0
-- plaintext on the TLS port fails
string(0) ""
bool(true)
-- a CA file that cannot be read
bool(false)
bool(true)
bool(true)
refused: TLS reason
bool(false)
-- setSSL(false) goes back to plaintext, explicitly
bool(true)
bool(true)
string(3) "cba"
-- a bad ini setting is reported at construction and refuses servers
worker refused: TLS reason
