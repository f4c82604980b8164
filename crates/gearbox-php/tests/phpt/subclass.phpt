--TEST--
PHP subclasses of the classes, overriding methods with PECL's own signatures, run jobs and tasks
--FILE--
<?php
require __DIR__ . '/server.inc';
class MyClient extends GearmanClient {
    public array $log = [];
    public function __construct(public string $name) { parent::__construct(); }
    public function error(): string|false { return parent::error(); }
    public function addTask(string $function_name, string|int|float $workload, mixed $context = null, ?string $unique_key = null): GearmanTask|false {
        $this->log[] = "addTask $workload";
        // Only the arguments given: PECL deprecates passing null for its optional strings.
        return parent::addTask(...func_get_args());
    }
    public function setCompleteCallback(callable $function): bool { return parent::setCompleteCallback($function); }
    public function doNormal(string $function, string $workload, ?string $unique = null): string {
        $this->log[] = "doNormal $workload";
        return parent::doNormal(...func_get_args());
    }
}
class MyWorker extends GearmanWorker {
    public int $jobs = 0;
    public function addFunction(string $function_name, callable $function, mixed $context = null, int $timeout = 0): bool {
        return parent::addFunction($function_name, function (GearmanJob $job, $ctx) use ($function) {
            $this->jobs++;
            return $function($job, $ctx);
        }, $context, $timeout);
    }
    public function returnCode(): ?int { return parent::returnCode(); }
    public function options(): ?int { return parent::options(); }
    public function getErrno(): int|false { return parent::getErrno(); }
}
class MyTask extends GearmanTask {
    public function data(): string|bool { return parent::data(); }
}
class MyJob extends GearmanJob {
    public function workloadSize(): ?int { return parent::workloadSize(); }
    public function sendData(string $data): ?bool { return parent::sendData($data); }
}
class MyException extends Exception {}
$fn = test_function('subclass');
$pid = pcntl_fork();
if ($pid === 0) {
    $w = new MyWorker();
    $w->addServer(test_host(), test_port());
    $w->setTimeout(10000);
    $w->addFunction($fn, fn(GearmanJob $job, $ctx) => "$ctx:" . strrev($job->workload()), 'ctx');
    while ($w->jobs < 3 && $w->work()) {
    }
    exit($w->jobs === 3 && $w->returnCode() === GEARMAN_SUCCESS ? 0 : 1);
}
$c = new MyClient('mine');
$c->addServer(test_host(), test_port());
$c->setTimeout(10000);
var_dump($c instanceof GearmanClient, $c->name, $c->doNormal($fn, 'abc'), $c->returnCode());
var_dump($c->setCompleteCallback(function (GearmanTask $t) { echo "complete: ", $t->data(), "\n"; }));
$t = $c->addTask($fn, 'def');
$c->addTask($fn, 42);
var_dump(get_class($t), $c->runTasks(), $c->log);
pcntl_waitpid($pid, $status);
var_dump(pcntl_wexitstatus($status));
$w = new MyWorker();
var_dump($w->options(), $w->getErrno(), (new MyJob())->workloadSize(), (new MyJob())->sendData('x'), (new MyTask())->data());
?>
--EXPECT--
bool(true)
string(4) "mine"
string(7) "ctx:cba"
int(0)
bool(true)
complete: ctx:24
complete: ctx:fed
string(11) "GearmanTask"
bool(true)
array(3) {
  [0]=>
  string(12) "doNormal abc"
  [1]=>
  string(11) "addTask def"
  [2]=>
  string(10) "addTask 42"
}
int(0)
int(644)
int(0)
int(0)
bool(false)
bool(false)
