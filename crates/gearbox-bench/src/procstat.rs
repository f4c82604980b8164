//! What the measured server costs the machine, read from `/proc`: CPU time (user + system, all
//! threads, from `/proc/PID/stat`) and resident memory (`VmRSS` from `/proc/PID/status`). The
//! generator's own CPU time comes from the same place, so a run can show whether the generator,
//! not the server, was the bottleneck.

use anyhow::{bail, Context as _, Result};

/// A process to measure.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    path: ProcPath,
    ticks_per_sec: f64,
}

#[derive(Debug, Clone, Copy)]
enum ProcPath {
    Pid(i32),
    OwnProcess,
}

impl Proc {
    /// The process `pid`; fails now, not mid-run, if it does not exist.
    pub fn pid(pid: i32) -> Result<Proc> {
        let p = Proc {
            path: ProcPath::Pid(pid),
            ticks_per_sec: ticks_per_sec(),
        };
        p.cpu_ms()
            .with_context(|| format!("reading /proc/{pid}: is --server-pid right?"))?;
        Ok(p)
    }

    /// This process.
    pub fn own() -> Proc {
        Proc {
            path: ProcPath::OwnProcess,
            ticks_per_sec: ticks_per_sec(),
        }
    }

    fn file(&self, name: &str) -> Result<String> {
        let path = match self.path {
            ProcPath::Pid(pid) => format!("/proc/{pid}/{name}"),
            ProcPath::OwnProcess => format!("/proc/self/{name}"),
        };
        std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))
    }

    /// User plus system CPU time of every thread, in milliseconds (clock-tick resolution,
    /// usually 10 ms: runs are long enough for that not to matter).
    pub fn cpu_ms(&self) -> Result<f64> {
        let stat = self.file("stat")?;
        let ticks = parse_stat_ticks(&stat).context("unexpected /proc/PID/stat layout")?;
        Ok(ticks as f64 * 1000.0 / self.ticks_per_sec)
    }

    /// Resident set size in KiB.
    pub fn rss_kb(&self) -> Result<u64> {
        let status = self.file("status")?;
        match parse_vm_rss(&status) {
            Some(kb) => Ok(kb),
            None => bail!("no VmRSS in /proc/PID/status (a zombie?)"),
        }
    }
}

/// CPU milliseconds the whole machine has spent since boot, all CPUs, from the first line of
/// `/proc/stat`. Compared with the server's and the generator's own time, it shows how much
/// other work shared the machine during a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineCpu {
    /// Running processes: user, nice and system time.
    pub tasks_ms: f64,
    /// Interrupt and softirq time. Loopback TCP is processed largely in softirq context, and
    /// the kernel charges that to no process: it grows with the packet rate of the run itself.
    pub irq_ms: f64,
    /// Time the hypervisor gave to other guests.
    pub steal_ms: f64,
}

impl MachineCpu {
    /// Read it now.
    pub fn now() -> Result<MachineCpu> {
        let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        parse_machine_cpu(&stat, ticks_per_sec()).context("unexpected /proc/stat layout")
    }
}

fn parse_machine_cpu(stat: &str, ticks_per_sec: f64) -> Option<MachineCpu> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal …
    let ms = |ticks: u64| ticks as f64 * 1000.0 / ticks_per_sec;
    Some(MachineCpu {
        tasks_ms: ms(v.first()? + v.get(1)? + v.get(2)?),
        irq_ms: ms(v.get(5)? + v.get(6)?),
        steal_ms: ms(*v.get(7).unwrap_or(&0)),
    })
}

fn ticks_per_sec() -> f64 {
    use nix::unistd::{sysconf, SysconfVar};
    // 100 is the value on every Linux configuration in practice; the call is for exotic ones.
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// utime + stime in clock ticks. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last `)`: after it come field 3 (state) onward,
/// and utime/stime are fields 14 and 15.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_in_name() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 \
                    4 0 100 1000 200 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(281));
    }

    #[test]
    fn vm_rss() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(4321));
    }

    #[test]
    fn machine_cpu() {
        let stat = "cpu  100 2 30 5000 7 1 4 3 0 0\ncpu0 50 1 15 2500 3 0 2 1 0 0\n";
        assert_eq!(
            parse_machine_cpu(stat, 100.0),
            Some(MachineCpu {
                tasks_ms: 1320.0,
                irq_ms: 50.0,
                steal_ms: 30.0
            })
        );
    }

    #[test]
    fn reads_own_process() {
        let me = Proc::own();
        assert!(me.cpu_ms().unwrap() >= 0.0);
        assert!(me.rss_kb().unwrap() > 0);
    }
}
