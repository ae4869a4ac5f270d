//! This process's resource use, read the way benches/load/procstats.py reads it for the
//! Python clients: `getrusage(RUSAGE_SELF)` for CPU (every thread), `/proc/self/status`
//! for memory, `/proc/<pid>/stat` for another process's CPU.

/// User and system CPU seconds of this process, every thread included.
pub fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct it is given, which is zeroed and ours.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage; RUSAGE_SELF is always a valid `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) } != 0 {
        return (f64::NAN, f64::NAN);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(r.ru_utime), tv(r.ru_stime))
}

/// User + system CPU seconds from a `/proc/.../stat` file (clock-tick resolution), NaN if
/// it cannot be read.
pub fn stat_cpu_seconds(path: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    parse_stat_cpu_ticks(&text).map_or(f64::NAN, |ticks| ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime, fields 14 and 15 of proc(5), counted after the `)` that ends the comm
/// (which may itself hold spaces and parentheses).
pub fn parse_stat_cpu_ticks(text: &str) -> Option<u64> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A memory field of `/proc/self/status` (`VmRSS`, `VmHWM`) in bytes; 0 if absent.
pub fn status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_status_kib(&s, field))
        .unwrap_or(0)
        * 1024
}

pub fn parse_status_kib(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_an_odd_comm() {
        // comm with a space and a parenthesis; utime 1234, stime 56.
        let stat = "77 (tokio (rt) x) S 1 77 77 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(1290));
        assert_eq!(parse_stat_cpu_ticks("77 (x) S 1 2"), None);
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tload-floor\nVmHWM:\t  4096 kB\nVmRSS:\t  2048 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(2048));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(4096));
        assert_eq!(parse_status_kib(status, "VmRS"), None);
        assert!(status_bytes("VmRSS") > 0);
    }

    #[test]
    fn cpu_grows_with_work() {
        // Spin until 20 ms of user CPU show (bounded: on a busy machine the thread may get
        // little CPU per wall second); a reading that never grows fails.
        let (u0, s0) = cpu_times();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut x = 0u64;
        let grew = loop {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            std::hint::black_box(x);
            if cpu_times().0 - u0 >= 0.02 {
                break true;
            }
            if std::time::Instant::now() > deadline {
                break false;
            }
        };
        assert!(grew, "user CPU did not grow");
        assert!(cpu_times().1 >= s0);
        assert!(stat_cpu_seconds("/proc/self/stat") > 0.0);
        assert!(stat_cpu_seconds("/proc/0/stat").is_nan());
    }
}
