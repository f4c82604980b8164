--TEST--
GearmanWorker and GearmanJob: a new object's state, options, timeout, ids, registrations, no servers, bad callbacks
--FILE--
<?php
$w = new GearmanWorker();
var_dump($w->returnCode(), $w->error(), $w->options(), $w->timeout(), $w->getErrno());
var_dump($w->setOptions(GEARMAN_WORKER_NON_BLOCKING), $w->options(), $w->timeout());
var_dump($w->addOptions(GEARMAN_WORKER_GRAB_UNIQ), $w->options());
var_dump($w->removeOptions(GEARMAN_WORKER_NON_BLOCKING), $w->options());
var_dump($w->setTimeout(150), $w->timeout(), $w->options());
var_dump($w->removeOptions(GEARMAN_WORKER_TIMEOUT_RETURN), $w->timeout(), $w->options());
var_dump($w->setId('my id'), $w->setId(''), $w->setId(str_repeat('a', 255)), $w->returnCode());
var_dump($w->setId(str_repeat('a', 254)), $w->options());
var_dump($w->register('f'), $w->options(), $w->register('g', 5));
var_dump($w->unregister('f'), @$w->unregister('f'), $w->returnCode());
var_dump($w->unregisterAll(), @$w->unregisterAll(), $w->returnCode());
var_dump(@$w->work(), $w->returnCode() === GEARMAN_NO_SERVERS);
var_dump($w->addFunction('f', 'no_such_function'));
var_dump(@$w->addFunction('', 'strrev'), $w->returnCode());
$j = new GearmanJob();
var_dump($j->returnCode(), $j->workload(), $j->workloadSize(), $j->sendData('x'), $j->returnCode());
var_dump($j->setReturn(GEARMAN_WORK_FAIL), $j->returnCode(), @$j->setReturn(999), $j->returnCode());
$p = gearman_worker_create();
var_dump(get_class($p), gearman_worker_options($p), gearman_worker_set_timeout($p, 7), gearman_worker_timeout($p));
var_dump(gearman_worker_add_options($p, GEARMAN_WORKER_NON_BLOCKING), gearman_worker_options($p));
var_dump(gearman_worker_return_code($p), gearman_worker_register($p, 'x', 5), gearman_worker_unregister_all($p));
var_dump(gearman_job_return_code($j), gearman_job_workload_size($j));
?>
--EXPECTF--
int(0)
bool(false)
int(644)
int(-1)
int(0)
bool(true)
int(6)
int(10000)
bool(true)
int(134)
bool(true)
int(132)
bool(true)
int(150)
int(388)
bool(true)
int(10000)
int(132)
bool(false)
bool(false)
bool(false)
int(0)
bool(true)
int(2180)
bool(true)
int(2244)
bool(true)
bool(true)
bool(false)
int(33)
bool(true)
bool(false)
int(34)
bool(false)
bool(true)

Warning: GearmanWorker::addFunction(): Function 'no_such_function' is not a valid callback in %s on line %d
bool(false)
bool(false)
int(49)
int(0)
string(0) ""
int(0)
bool(false)
int(0)
bool(true)
int(24)
bool(false)
int(24)
string(13) "GearmanWorker"
int(644)
bool(true)
int(7)
bool(true)
int(902)
int(0)
bool(true)
bool(true)
int(24)
int(0)
