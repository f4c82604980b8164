--TEST--
GearmanClient: doNormal/doHigh/doLow, the background variants, handles, status, ping
--FILE--
<?php
require __DIR__ . '/server.inc';
$c = test_client();
foreach (['doNormal', 'doHigh', 'doLow'] as $m) {
    var_dump(bin2hex($c->$m('reverse', "abc\0def")), $c->returnCode());
}
var_dump(gearman_client_do_normal($c, 'reverse', 'xyz'), gearman_client_return_code($c));
var_dump(bin2hex($c->doNormal('reverse', "x", 'unique-1')));
foreach (['doBackground', 'doHighBackground', 'doLowBackground'] as $m) {
    $h = $c->$m('nobody_' . $m, 'payload');
    var_dump($c->returnCode(), $h === $c->doJobHandle(), strlen($h) > 0);
    var_dump($c->jobStatus($h));
}
var_dump($c->jobStatus('H:not-a-job:1'));
var_dump($c->jobStatusByUniqueKey('no-such-unique'));
var_dump($c->ping("ping\0data"), $c->returnCode());
var_dump(gearman_client_ping($c, 'p'));
?>
--EXPECT--
string(14) "66656400636261"
int(0)
string(14) "66656400636261"
int(0)
string(14) "66656400636261"
int(0)
string(3) "zyx"
int(0)
string(2) "78"
int(0)
bool(true)
bool(true)
array(4) {
  [0]=>
  bool(true)
  [1]=>
  bool(false)
  [2]=>
  int(0)
  [3]=>
  int(0)
}
int(0)
bool(true)
bool(true)
array(4) {
  [0]=>
  bool(true)
  [1]=>
  bool(false)
  [2]=>
  int(0)
  [3]=>
  int(0)
}
int(0)
bool(true)
bool(true)
array(4) {
  [0]=>
  bool(true)
  [1]=>
  bool(false)
  [2]=>
  int(0)
  [3]=>
  int(0)
}
array(4) {
  [0]=>
  bool(false)
  [1]=>
  bool(false)
  [2]=>
  int(0)
  [3]=>
  int(0)
}
array(4) {
  [0]=>
  bool(false)
  [1]=>
  bool(false)
  [2]=>
  int(0)
  [3]=>
  int(0)
}
bool(true)
int(0)
bool(true)
