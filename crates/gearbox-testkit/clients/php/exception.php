<?php
// php exception.php HOST PORT FUNCTION
// The worker answers workload "exception" with WORK_EXCEPTION "ex:exception". The extension
// always asks the server for exceptions (OPTION_REQ "exceptions" in addServer), so clients see
// WORK_EXCEPTION: doNormal returns GEARMAN_WORK_EXCEPTION and a task's exception callback gets
// the exception data. Checked with the default client and with setOptions(GEARMAN_CLIENT_EXCEPTION).
require __DIR__ . '/common.php';

[$fn] = script_args() + [null];
$fn !== null || bail("usage: exception.php HOST PORT FUNCTION", 2);

foreach (['default' => null, 'option' => GEARMAN_CLIENT_EXCEPTION] as $label => $opt) {
    $c = new_client();
    if ($opt !== null) {
        $c->setOptions($opt) || bail("setOptions failed");
    }
    $r = @$c->doNormal($fn, "exception");
    out("$label doNormal result='$r' " . rc_name($c->returnCode()));

    $t = new_client();
    if ($opt !== null) {
        $t->setOptions($opt) || bail("setOptions failed");
    }
    $t->setExceptionCallback(function (GearmanTask $task) use ($label) {
        out("$label task exception " . $task->data());
    });
    $t->setFailCallback(function (GearmanTask $task) use ($label) {
        out("$label task fail");
    });
    $t->setCompleteCallback(function (GearmanTask $task) use ($label) {
        out("$label task complete " . $task->data());
    });
    $t->addTask($fn, "exception") || bail("addTask failed");
    $ok = @$t->runTasks();
    out("$label runTasks " . ($ok ? "ok" : "failed"));
}
