--TEST--
GearmanClient: a new client's state, options, timeout and context
--FILE--
<?php
$c = new GearmanClient();
var_dump($c->returnCode(), $c->options(), $c->timeout(), $c->getErrno());
var_dump($c->setOptions(GEARMAN_CLIENT_NON_BLOCKING), $c->options());
var_dump($c->addOptions(GEARMAN_CLIENT_FREE_TASKS), $c->options());
var_dump($c->removeOptions(GEARMAN_CLIENT_NON_BLOCKING), $c->options());
var_dump($c->setTimeout(2500), $c->timeout());
var_dump($c->context(), $c->setContext("ctx bytes"), $c->context());
var_dump(gearman_verbose_name(GEARMAN_VERBOSE_ERROR), gearman_verbose_name(77));
var_dump(phpversion('gearman') !== false, extension_loaded('gearman'));
var_dump(GEARMAN_SUCCESS, GEARMAN_TIMEOUT, GEARMAN_DEFAULT_TCP_PORT, GEARMAN_DEFAULT_TCP_HOST);
var_dump(count((new ReflectionExtension('gearman'))->getConstants()));
$p = gearman_client_create();
var_dump(get_class($p), gearman_client_options($p), gearman_client_set_timeout($p, 7), gearman_client_timeout($p));
?>
--EXPECT--
int(0)
int(32)
int(-1)
int(0)
bool(true)
int(2)
bool(true)
int(34)
bool(true)
int(32)
bool(true)
int(2500)
string(0) ""
bool(true)
string(9) "ctx bytes"
string(5) "ERROR"
string(7) "UNKNOWN"
bool(true)
bool(true)
int(0)
int(47)
int(4730)
string(9) "localhost"
int(157)
string(13) "GearmanClient"
int(32)
bool(true)
int(7)
