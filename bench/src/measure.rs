//! What every benchmark measures and how it prints it: one JSON object per line.

use std::time::Instant;

/// Peak resident memory of this process, from `/proc/self/status` (Linux).
pub fn peak_rss_mb() -> Option<f64> {
    status_mb("/proc/self/status", "VmHWM:")
}

/// A memory field such as `VmHWM:` of a `/proc/<pid>/status` file, in MB.
pub fn status_mb(path: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time (user and system) of a process so far, from a `/proc/<pid>/stat` file.
pub fn cpu_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks / per_second as f64)
}

pub fn emit(line: serde_json::Value) {
    println!("{line}");
}

pub fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}
