--TEST--
GearmanClient: an unreachable server throws GearmanException; no server, no worker, timeouts
--FILE--
<?php
require __DIR__ . '/server.inc';
try {
    (new GearmanClient())->addServer('127.0.0.1', 1);
    echo "no exception\n";
} catch (GearmanException $e) {
    var_dump(get_class($e), $e->getMessage(), $e->getCode(), $e->code, $e->getLine());
}
$quiet = new GearmanClient();
var_dump($quiet->addServer('127.0.0.1', 1, false));
$none = new GearmanClient();
var_dump(@$none->doNormal('reverse', 'x'), $none->returnCode() === GEARMAN_NO_SERVERS, is_string($none->error()));
$c = test_client();
$c->setTimeout(300);
var_dump(@$c->doNormal('nobody', 'x'), $c->returnCode() === GEARMAN_TIMEOUT, is_string($c->error()));
$e = new GearmanException('mine', 3);
var_dump($e->getMessage(), $e->getCode(), (new ReflectionClass('GearmanException'))->isFinal());
// Failures warn (frameworks turn warnings into exceptions); a job's own failure does not.
set_error_handler(function ($no, $msg) { echo "warning: ", $no === E_WARNING ? 'E_WARNING' : $no, " ", strtok($msg, '('), "\n"; return true; });
var_dump($none->doNormal('reverse', 'x'), $c->doBackground('nobody', 'x') !== '');
$w = new GearmanWorker();
var_dump($w->work(), $w->unregister('none'));
restore_error_handler();
?>
--EXPECT--
string(16) "GearmanException"
string(30) "Failed to set exception option"
int(0)
int(0)
int(4)
bool(true)
string(0) ""
bool(true)
bool(true)
string(0) ""
bool(true)
bool(true)
string(4) "mine"
int(3)
bool(true)
warning: E_WARNING GearmanClient::doNormal
string(0) ""
bool(true)
warning: E_WARNING GearmanWorker::work
warning: E_WARNING GearmanWorker::unregister
bool(false)
bool(false)
