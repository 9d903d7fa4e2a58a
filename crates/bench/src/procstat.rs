//! Memory and CPU of a process from /proc (the broker's with `--pid`, and our own).

use std::time::Instant;

use serde::Serialize;

use crate::error::BenchError;

/// Which process to read.
#[derive(Debug, Clone, Copy)]
pub enum Proc {
    Pid(u32),
    OwnProcess,
}

impl Proc {
    fn dir(self) -> String {
        match self {
            Proc::Pid(pid) => format!("/proc/{pid}"),
            Proc::OwnProcess => "/proc/self".to_owned(),
        }
    }

    fn id(self) -> u32 {
        match self {
            Proc::Pid(pid) => pid,
            Proc::OwnProcess => std::process::id(),
        }
    }
}

/// One reading of a process.
#[derive(Debug, Clone)]
pub struct Sample {
    at: Instant,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
    vm_hwm_kib: Option<u64>,
    rss_anon_kib: Option<u64>,
}

/// A process's use over a run.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// CPU time over wall time, in % of one core.
    pub cpu_percent: f64,
    /// Peak resident set since the process started (VmHWM), KiB.
    pub peak_rss_kib: Option<u64>,
    /// Anonymous resident memory at the start and at the end of the run, KiB.
    pub rss_anon_start_kib: Option<u64>,
    pub rss_anon_end_kib: Option<u64>,
}

impl Sample {
    /// Peak resident set since the process started (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.vm_hwm_kib
    }
}

pub fn sample(p: Proc) -> Result<Sample, BenchError> {
    let dir = p.dir();
    let err = |reason: String| BenchError::Proc {
        pid: p.id(),
        reason,
    };
    let stat =
        std::fs::read_to_string(format!("{dir}/stat")).map_err(|e| err(format!("stat: {e}")))?;
    let status = std::fs::read_to_string(format!("{dir}/status"))
        .map_err(|e| err(format!("status: {e}")))?;
    let cpu_ticks =
        cpu_ticks(&stat).ok_or_else(|| err("unexpected /proc/PID/stat format".into()))?;
    Ok(Sample {
        at: Instant::now(),
        cpu_ticks,
        vm_hwm_kib: status_kib(&status, "VmHWM"),
        rss_anon_kib: status_kib(&status, "RssAnon"),
    })
}

pub fn usage(start: &Sample, end: &Sample, ticks_per_sec: u64) -> Usage {
    let wall = end.at.duration_since(start.at).as_secs_f64();
    let cpu = end.cpu_ticks.saturating_sub(start.cpu_ticks) as f64 / ticks_per_sec.max(1) as f64;
    Usage {
        cpu_percent: if wall > 0.0 { 100.0 * cpu / wall } else { 0.0 },
        peak_rss_kib: end.vm_hwm_kib,
        rss_anon_start_kib: start.rss_anon_kib,
        rss_anon_end_kib: end.rss_anon_kib,
    }
}

/// Clock ticks per second for /proc/PID/stat times (`getconf CLK_TCK`; 100 on Linux).
pub fn ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// utime + stime (fields 14 and 15) of /proc/PID/stat; the command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last ')'.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state).
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// A `Key:   1234 kB` line of /proc/PID/status, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        let stat = "1234 (rigel (a) b) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_lines_give_kib() {
        let status =
            "Name:\trigel\nVmHWM:\t   86732 kB\nVmRSS:\t   80000 kB\nRssAnon:\t   75980 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(86_732));
        assert_eq!(status_kib(status, "RssAnon"), Some(75_980));
        assert_eq!(status_kib(status, "RssFile"), None);
    }

    #[test]
    fn our_own_process_can_be_sampled() {
        let t = ticks_per_sec();
        let a = sample(Proc::OwnProcess);
        let b = sample(Proc::OwnProcess);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let u = usage(&a, &b, t);
                assert!(u.cpu_percent >= 0.0);
                assert!(u.peak_rss_kib.is_some_and(|k| k > 0));
            }
            (a, b) => panic!("{a:?} {b:?}"),
        }
    }
}
