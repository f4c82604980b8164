#!/usr/bin/perl
# Configurable Gearman::Worker for the Gearbox interop tests.
#
#   perl worker.pl HOST PORT [--fn NAME:BEHAVIOUR]... [--id CLIENT_ID] [--count N] [--gate PATH]
#
# Prints "JOB <function> <arg>" when a job starts and "DONE <n>" after --count jobs.
# Behaviours:
#   reverse  returns reverse(arg)
#   echo     returns arg
#   status   WORK_DATA "d:<arg>", WORK_STATUS 1/2, waits for the --gate file if one was given,
#            returns "status:<arg>"
#   fail     returns undef (Gearman::Worker then sends WORK_FAIL)
#   die      dies (Gearman::Worker sends WORK_EXCEPTION with the frozen error, then WORK_FAIL)
use strict;
use warnings;
use Gearman::Worker;
use Time::HiRes qw(sleep time);

$| = 1;
my ($host, $port, @args) = @ARGV;
die "usage: worker.pl HOST PORT [options]\n" unless defined $port;

my (@fns, $id, $count, $gate);
while (@args) {
    my $opt = shift @args;
    my $val = shift @args;
    die "missing value for $opt\n" unless defined $val;
    if    ($opt eq '--fn')    { push @fns, $val }
    elsif ($opt eq '--id')    { $id = $val }
    elsif ($opt eq '--count') { $count = $val }
    elsif ($opt eq '--gate')  { $gate = $val }
    else                      { die "unknown option $opt\n" }
}
die "no --fn given\n" unless @fns;

my $worker = Gearman::Worker->new(
    job_servers => ["$host:$port"],
    (defined $id ? (client_id => $id) : ()),
);
my $started = 0;

sub wait_gate {
    my $t = time;
    while (!-e $gate) {
        return 0 if time - $t > 10;
        sleep 0.02;
    }
    return 1;
}

for my $spec (@fns) {
    my ($name, $behaviour) = split /:/, $spec, 2;
    die "bad --fn $spec\n" unless defined $behaviour;
    $worker->register_function(
        $name => sub {
            my $job = shift;
            my $arg = $job->arg;
            $started++;
            print "JOB $name $arg\n";
            if ($behaviour eq 'reverse') { return scalar reverse $arg }
            if ($behaviour eq 'echo')    { return $arg }
            if ($behaviour eq 'status') {
                $worker->send_work_data($job, "d:$arg");
                $job->set_status(1, 2);
                if (defined $gate && !wait_gate()) { warn "gate not opened\n" }
                return "status:$arg";
            }
            if ($behaviour eq 'fail') { return undef }
            if ($behaviour eq 'die')  { die "died on $arg\n" }
            die "unknown behaviour $behaviour\n";
        }
    );
}

my $begin = time;
$worker->work(
    stop_if => sub {
        my ($is_idle) = @_;
        return 1 if defined $count && $started >= $count;
        # Never outlive the test by much, even if nobody kills us.
        return 1 if time - $begin > 60;
        return 0;
    }
);
print "DONE $started\n";
