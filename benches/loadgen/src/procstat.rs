//! CPU time and memory of a process, from /proc (Linux only).

use std::fs;

/// Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux we run on).
const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of `pid` ("self" for this process), in seconds.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces or parentheses: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of proc(5), so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Resident set size of `pid`, in KiB (VmRSS).
pub fn rss_kib(pid: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A reading of the server (if its pid is known) and of this process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: std::time::Instant,
    pub server_cpu: Option<f64>,
    pub server_rss: Option<u64>,
    pub client_cpu: f64,
}

pub fn sample(server_pid: Option<u32>) -> Sample {
    let pid = server_pid.map(|p| p.to_string());
    Sample {
        at: std::time::Instant::now(),
        server_cpu: pid.as_deref().and_then(cpu_seconds),
        server_rss: pid.as_deref().and_then(rss_kib),
        client_cpu: cpu_seconds("self").unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_process() {
        assert!(super::cpu_seconds("self").is_some());
        assert!(super::rss_kib("self").unwrap() > 0);
    }
}
