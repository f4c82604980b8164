<?php
// php echo.php HOST PORT
// ECHO_REQ/ECHO_RES through GearmanClient::ping and GearmanWorker::ping (libgearman compares
// the echoed bytes and fails on any difference).
require __DIR__ . '/common.php';

$c = new_client();
out("client ping text: " . var_export(@$c->ping("hello gearman"), true));
out("client ping binary: " . var_export(@$c->ping("bin\0ary\xff\x00\x01"), true));
out("client ping 100k: " . var_export(@$c->ping(str_repeat("0123456789", 10000)), true));
$w = new_worker();
out("worker ping: " . var_export(@$w->ping("from worker"), true));
