<?php
// Configurable test worker.
//
//   php worker.php HOST PORT [--fn NAME:BEHAVIOUR[:TIMEOUT_MS]]... [--id CLIENT_ID]
//                            [--count N] [--idle MS] [--gate PATH] [--tag TAG]
//
// Prints "JOB <function> <workload>" when it starts a job, "DONE <n>" after --count jobs, or
// "IDLE" when no job arrived for --idle ms (default 10000) and no --count was given.
// Behaviours (result sent with WORK_COMPLETE unless noted):
//   reverse    strrev(workload)
//   echo       workload
//   counter    "run#<n>:<workload>", n = jobs started by this worker so far
//   tagged     "<tag>:<workload>"
//   sleep      sleeps <workload> seconds, then "<tag>:<workload>"
//   gated      WORK_STATUS 1/2, waits for the --gate file, then "gated:<workload>"
//   callbacks  WORK_DATA "d:<wl>", WORK_WARNING "w:<wl>", WORK_STATUS 1/2, then by workload:
//              complete -> sendComplete("done:<wl>"); fail -> sendFail();
//              exception -> sendException("ex:<wl>"); anything else -> return "ret:<wl>"
//   exception  sendException("ex:<wl>")
//   fail       sendFail()
require __DIR__ . '/common.php';

$fns = [];
$id = null;
$count = null;
$idle = 10000;
$gate = null;
$tag = 'worker';
$args = script_args();
for ($i = 0; $i < count($args); $i++) {
    $opt = $args[$i];
    $val = $args[$i + 1] ?? bail("missing value for $opt", 2);
    $i++;
    switch ($opt) {
        case '--fn': $fns[] = $val; break;
        case '--id': $id = $val; break;
        case '--count': $count = (int)$val; break;
        case '--idle': $idle = (int)$val; break;
        case '--gate': $gate = $val; break;
        case '--tag': $tag = $val; break;
        default: bail("unknown option $opt", 2);
    }
}
if (!$fns) {
    bail("no --fn given", 2);
}

$w = new_worker($idle);
if ($id !== null && !$w->setId($id)) {
    bail("setId failed: " . $w->error());
}

$started = 0;

function behave(string $behaviour, GearmanJob $job, int $n, ?string $gate, string $tag)
{
    $wl = $job->workload();
    switch ($behaviour) {
        case 'reverse':
            return strrev($wl);
        case 'echo':
            return $wl;
        case 'counter':
            return "run#$n:$wl";
        case 'tagged':
            return "$tag:$wl";
        case 'sleep':
            usleep((int)((float)$wl * 1e6));
            return "$tag:$wl";
        case 'gated':
            $job->sendStatus(1, 2);
            if ($gate === null || !wait_gate($gate)) {
                fwrite(STDERR, "gate not opened\n");
            }
            return "gated:$wl";
        case 'callbacks':
            $job->sendData("d:$wl");
            $job->sendWarning("w:$wl");
            $job->sendStatus(1, 2);
            if ($wl === 'complete') {
                $job->sendComplete("done:$wl");
                return GEARMAN_SUCCESS;
            }
            if ($wl === 'fail') {
                $job->sendFail();
                return GEARMAN_WORK_FAIL;
            }
            if ($wl === 'exception') {
                $job->sendException("ex:$wl");
                return GEARMAN_WORK_EXCEPTION;
            }
            return "ret:$wl";
        case 'exception':
            $job->sendException("ex:$wl");
            return GEARMAN_WORK_EXCEPTION;
        case 'fail':
            $job->sendFail();
            return GEARMAN_WORK_FAIL;
    }
    bail("unknown behaviour $behaviour", 2);
}

foreach ($fns as $spec) {
    $parts = explode(':', $spec);
    if (count($parts) < 2) {
        bail("bad --fn $spec (want NAME:BEHAVIOUR[:TIMEOUT_MS])", 2);
    }
    [$name, $behaviour] = $parts;
    $timeout = isset($parts[2]) ? (int)$parts[2] : 0;
    $cb = function (GearmanJob $job) use ($name, $behaviour, $gate, $tag, &$started) {
        $started++;
        out("JOB $name " . $job->workload());
        return behave($behaviour, $job, $started, $gate, $tag);
    };
    if (!$w->addFunction($name, $cb, null, $timeout)) {
        bail("addFunction($name) failed: " . $w->error());
    }
}

while ($count === null || $started < $count) {
    if (@$w->work()) {
        continue;
    }
    $rc = $w->returnCode();
    if ($rc === GEARMAN_TIMEOUT) {
        if ($count === null) {
            out("IDLE");
            exit(0);
        }
        bail("timed out waiting for jobs after $started of $count", 3);
    }
    if ($rc === GEARMAN_SUCCESS || $rc === GEARMAN_IO_WAIT || $rc === GEARMAN_NO_JOBS) {
        continue;
    }
    bail("GearmanWorker::work failed: " . rc_name($rc) . " " . $w->error(), 4);
}
out("DONE $started");
