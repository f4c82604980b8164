<?php
// One run of one PHP extension benchmark scenario, for scripts/bench-php. Whichever `gearman`
// extension PHP loaded (PECL's or Gearbox's) talks to the server at HOST:PORT. Prints one JSON
// line in gearbox-bench's record format: the scenario, the label of what ran (LABEL), jobs per
// second, and whether every job came back right (a run that loses or garbles a job is a
// failure, not a figure). The client scenarios' worker is the same for every extension (a
// `php` process with the system's PECL extension, started by `serve`), so that they measure
// the client; `work` measures the worker.
//
// usage: php bench.php HOST PORT SCENARIO JOBS LABEL
//   bg     JOBS doBackground() calls
//   fg     JOBS doNormal() calls, one at a time, served by one PECL worker
//   tasks  JOBS addTask() in batches of 100, each batch one runTasks(), one PECL worker
//   work   JOBS background jobs queued first (not timed), then one worker's work() loop
//   memory JOBS doBackground() and jobStatus() calls; reports how much PHP's memory and the
//          process's resident set grew after the first tenth (nothing should grow)

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

// A worker serving $jobs jobs of $fn (or giving up after 30 s without one), in a `php`
// process with the system's configuration, that is with PECL's extension.
function start_worker(string $host, int $port, string $fn, int $jobs) {
    $argv = ['php', __FILE__, $host, (string)$port, 'serve', (string)$jobs, $fn];
    $worker = proc_open($argv, [], $pipes);
    // Wait until it is registered, so that the timing starts with a worker ready.
    for ($i = 0; $i < 500 && !str_contains(admin($host, $port, 'workers'), " $fn"); $i++) {
        usleep(10000);
    }
    return $worker;
}

// One admin command's reply.
function admin(string $host, int $port, string $command): string {
    $s = fsockopen($host, $port);
    fwrite($s, "$command\n");
    $reply = '';
    while (($line = fgets($s)) !== false && rtrim($line) !== '.') {
        $reply .= $line;
    }
    fclose($s);
    return $reply;
}

// The resident set of this process, in KiB.
function rss_kib(): int {
    preg_match('/^VmRSS:\s+(\d+)/m', file_get_contents('/proc/self/status'), $m);
    return (int)$m[1];
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
    case 'serve':
        // The worker of the client scenarios: JOBS is the number of jobs, LABEL the function.
        $done = 0;
        $w = worker($host, $port, $label, $done);
        while ($done < $jobs && $w->work()) {
        }
        exit($done === $jobs ? 0 : 1);
    case 'fg':
        $worker = start_worker($host, $port, $fn, $jobs);
        $c = client($host, $port);
        $start = hrtime(true);
        for ($i = 0; $i < $jobs && $error === null; $i++) {
            $r = $c->doNormal($fn, "payload $i");
            if ($r !== strrev("payload $i")) {
                $error = "job $i came back as " . var_export($r, true) . ", code " . $c->returnCode();
            }
        }
        proc_close($worker);
        break;
    case 'tasks':
        $worker = start_worker($host, $port, $fn, $jobs);
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
        proc_close($worker);
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
    case 'memory':
        $c = client($host, $port);
        $calls = $jobs;
        $start = hrtime(true);
        for ($i = 0; $i < $calls && $error === null; $i++) {
            if ($i === intdiv($calls, 10)) {
                $php_before = memory_get_usage();
                $rss_before = rss_kib();
            }
            $h = $c->doBackground($fn, "payload $i");
            if ($h === '' || !$c->jobStatus($h)[0]) {
                $error = "call $i failed: " . $c->returnCode();
            }
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
    if ($scenario === 'memory') {
        $record['php_mem_growth_bytes'] = memory_get_usage() - $php_before;
        $record['rss_growth_kib'] = rss_kib() - $rss_before;
    }
} else {
    $record['error'] = $error;
}
echo json_encode($record), "\n";
exit($error === null ? 0 : 1);
