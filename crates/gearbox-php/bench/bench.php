<?php
// One run of one PHP extension benchmark scenario, for scripts/bench-php. Whichever `gearman`
// extension PHP loaded (PECL's or Gearbox's) talks to the server at HOST:PORT; workers are
// forked children using the same extension. Prints one JSON line in gearbox-bench's record
// format: the scenario, the label of what ran (LABEL), jobs per second, and whether every job
// came back right (a run that loses or garbles a job is a failure, not a figure).
//
// usage: php bench.php HOST PORT SCENARIO JOBS LABEL
//   bg     JOBS doBackground() calls
//   fg     JOBS doNormal() calls, one at a time, served by one forked worker
//   tasks  JOBS addTask() in batches of 100, each batch one runTasks(), one forked worker
//   work   JOBS background jobs queued first (not timed), then one worker's work() loop

[, $host, $port, $scenario, $jobs, $label] = $argv;
$port = (int)$port;
$jobs = (int)$jobs;
$fn = "bench_{$scenario}_" . getmypid();
$deadline = microtime(true) + 300;

function client(string $host, int $port): GearmanClient {
    $c = new GearmanClient();
    $c->addServer($host, $port);
    $c->setTimeout(30000);
    return $c;
}

function worker(string $host, int $port, string $fn, int &$done): GearmanWorker {
    $w = new GearmanWorker();
    $w->addServer($host, $port);
    $w->setTimeout(30000);
    $w->addFunction($fn, function (GearmanJob $job) use (&$done) {
        $done++;
        return strrev($job->workload());
    });
    return $w;
}

// A forked worker serving $jobs jobs (or giving up after 30 s without one).
function fork_worker(string $host, int $port, string $fn, int $jobs): int {
    $pid = pcntl_fork();
    if ($pid === 0) {
        $done = 0;
        $w = worker($host, $port, $fn, $done);
        while ($done < $jobs && $w->work()) {
        }
        exit($done === $jobs ? 0 : 1);
    }
    return $pid;
}

$error = null;
switch ($scenario) {
    case 'bg':
        $c = client($host, $port);
        $start = hrtime(true);
        for ($i = 0; $i < $jobs; $i++) {
            if ($c->doBackground($fn, "payload $i") === '') {
                $error = "doBackground $i failed: " . $c->returnCode();
                break;
            }
        }
        break;
    case 'fg':
        $pid = fork_worker($host, $port, $fn, $jobs);
        $c = client($host, $port);
        $start = hrtime(true);
        for ($i = 0; $i < $jobs && $error === null; $i++) {
            $r = $c->doNormal($fn, "payload $i");
            if ($r !== strrev("payload $i")) {
                $error = "job $i came back as " . var_export($r, true) . ", code " . $c->returnCode();
            }
        }
        pcntl_waitpid($pid, $status);
        break;
    case 'tasks':
        $pid = fork_worker($host, $port, $fn, $jobs);
        $c = client($host, $port);
        $results = [];
        $c->setCompleteCallback(function (GearmanTask $t) use (&$results) {
            $results[$t->unique()] = $t->data();
        });
        $start = hrtime(true);
        for ($i = 0; $i < $jobs && $error === null; $i += 100) {
            for ($j = $i; $j < min($i + 100, $jobs); $j++) {
                $c->addTask($fn, "payload $j", null, "u$j");
            }
            if (!$c->runTasks()) {
                $error = "runTasks failed: " . $c->returnCode();
            }
        }
        pcntl_waitpid($pid, $status);
        for ($i = 0; $i < $jobs && $error === null; $i++) {
            if (($results["u$i"] ?? null) !== strrev("payload $i")) {
                $error = "task $i came back as " . var_export($results["u$i"] ?? null, true);
            }
        }
        break;
    case 'work':
        $c = client($host, $port);
        for ($i = 0; $i < $jobs; $i++) {
            $c->doBackground($fn, "payload $i");
        }
        $done = 0;
        $w = worker($host, $port, $fn, $done);
        $start = hrtime(true);
        while ($done < $jobs && microtime(true) < $deadline && $w->work()) {
        }
        if ($done !== $jobs) {
            $error = "the worker ran $done of $jobs jobs";
        }
        break;
    default:
        fwrite(STDERR, "unknown scenario $scenario\n");
        exit(2);
}
$seconds = (hrtime(true) - $start) / 1e9;
$record = ['scenario' => $scenario, 'server' => $label, 'params' => "$jobs jobs", 'ok' => $error === null];
if ($error === null) {
    $record['jobs_per_s'] = round($jobs / $seconds, 1);
} else {
    $record['error'] = $error;
}
echo json_encode($record), "\n";
exit($error === null ? 0 : 1);
