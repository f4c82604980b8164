#!/usr/bin/perl
# Gearman::Client scenarios for the Gearbox interop tests.
#
#   perl client.pl HOST PORT do_task FUNC ARG
#   perl client.pl HOST PORT background FUNC ARG UNIQ
#   perl client.pl HOST PORT status HANDLE now|running|gone
#   perl client.pl HOST PORT taskset
#   perl client.pl HOST PORT exception FUNC ARG 0|1
use strict;
use warnings;
use Gearman::Client;
use Time::HiRes qw(sleep time);

$| = 1;
my ($host, $port, $mode, @args) = @ARGV;
die "usage: client.pl HOST PORT MODE ...\n" unless defined $mode;

sub client {
    my %opts = @_;
    return Gearman::Client->new(job_servers => ["$host:$port"], command_timeout => 10, %opts);
}

sub status_line {
    my ($st) = @_;
    return "status undef" unless defined $st;
    my $p = $st->progress;
    return sprintf("known=%d running=%d progress=%s", $st->known ? 1 : 0, $st->running ? 1 : 0,
        defined $p ? "$p->[0]/$p->[1]" : "none");
}

if ($mode eq 'do_task') {
    my ($func, $arg) = @args;
    my $r = client()->do_task($func, $arg, { timeout => 15 });
    print "result ", (defined $r ? $$r : "undef"), "\n";
}
elsif ($mode eq 'background') {
    my ($func, $arg, $uniq) = @args;
    my $c = client();
    my $h = $c->dispatch_background($func, $arg, { uniq => $uniq });
    print "dispatched ", (defined $h && $h =~ m{^\Q$host:$port\E//.+} ? "ok" : "failed"), "\n";
    print "HANDLE ", ($h // ''), "\n";
    print status_line($c->get_status($h)), "\n";
}
elsif ($mode eq 'status') {
    my ($handle, $want) = @args;
    my $deadline = time + 10;
    my $st;
    while (1) {
        $st = client()->get_status($handle);
        last if $want eq 'now';
        # Running, with the worker's WORK_STATUS recorded.
        last if $want eq 'running' && $st && $st->running && $st->percent;
        last if $want eq 'gone' && $st && !$st->known;
        last if time > $deadline;
        sleep 0.02;
    }
    print status_line($st), "\n";
}
elsif ($mode eq 'taskset') {
    # Three kinds of task in one task set: plain results, a task reporting data and status
    # before completing, and a failing task.
    my $ts = client()->new_task_set;
    my %ev;
    my $add = sub {
        my ($func, $arg) = @_;
        $ts->add_task(
            $func, $arg,
            {
                on_complete => sub { push @{ $ev{$arg} }, "complete ${ $_[0] }" },
                on_fail     => sub { push @{ $ev{$arg} }, "fail" },
                on_status   => sub { push @{ $ev{$arg} }, "status $_[0]/$_[1]" },
                on_data     => sub { push @{ $ev{$arg} }, "data ${ $_[0] }" },
            }
        );
    };
    $add->("p_reverse", "abc");
    $add->("p_reverse", "hello");
    $add->("p_status",  "s1");
    $add->("p_fail",    "f1");
    $ts->wait(timeout => 15);
    print "$_: ", join(" | ", @{ $ev{$_} }), "\n" for sort keys %ev;
}
elsif ($mode eq 'exception') {
    my ($func, $arg, $exc) = @args;
    my $ts = client(exceptions => $exc)->new_task_set;
    my @ev;
    $ts->add_task(
        $func, $arg,
        {
            on_complete  => sub { push @ev, "complete ${ $_[0] }" },
            on_fail      => sub { push @ev, "fail" },
            on_exception => sub {
                my $d = $_[0] // '';
                # Gearman::Worker sends a Storable-frozen error; show only that it was binary.
                push @ev, $d =~ /^[[:print:]]*$/ ? "exception $d" : "exception <binary>";
            },
        }
    );
    $ts->wait(timeout => 15);
    print "events: ", join(" | ", @ev), "\n";
}
else {
    die "unknown mode $mode\n";
}
