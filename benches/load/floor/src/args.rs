//! The command line (benches/load/floor.py builds it; see `USAGE`).

use std::time::Duration;

pub const USAGE: &str = "\
usage: load-floor --url WS_URL --k N [--workers 1] [--duration 10] [--warmup 1]
                  [--concurrency 50] [--stream-s 0] [--server-pid 0] [--api-key KEY]
                  [--read-buffer 4096] [--idle]

Runs K full-duplex sessions against the mock server at WS_URL
(ws://HOST:PORT/v1/realtime?model=...) the way benches/load/harness.py runs a Python
client, and prints one JSON line with the same measures.";

/// The package's default (`read_buffer_size` of its transport): the same reads per frame.
pub const DEFAULT_READ_BUFFER: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// The full socket URL, `?model=` included.
    pub url: String,
    pub k: usize,
    /// Tokio worker threads.
    pub workers: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Handshakes in flight while connecting.
    pub concurrency: usize,
    /// The mock's stream length, which bounds the wait for the end of the streams.
    pub stream: Duration,
    /// The mock server's pid, for its CPU over the window (0: unknown).
    pub server_pid: u32,
    pub api_key: String,
    /// tungstenite's read buffer per socket, bytes.
    pub read_buffer: usize,
    /// The idle point: K sessions open with no audio, for the memory per session.
    pub idle: bool,
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = v
        .parse()
        .map_err(|_| format!("{flag}: not a number of seconds: {v:?}"))?;
    Duration::try_from_secs_f64(s).map_err(|_| format!("{flag}: out of range: {v:?}"))
}

fn count(flag: &str, v: &str, min: usize, max: usize) -> Result<usize, String> {
    let n: usize = v
        .parse()
        .map_err(|_| format!("{flag}: not a whole number: {v:?}"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("{flag}: must be in {min}..={max}, got {n}"));
    }
    Ok(n)
}

/// The command line, or `Ok(None)` for `--help`.
pub fn parse<I: IntoIterator<Item = String>>(argv: I) -> Result<Option<Args>, String> {
    let mut a = Args {
        url: String::new(),
        k: 0,
        workers: 1,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        concurrency: 50,
        stream: Duration::ZERO,
        server_pid: 0,
        api_key: "sk-bench".to_owned(),
        read_buffer: DEFAULT_READ_BUFFER,
        idle: false,
    };
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--idle" => {
                a.idle = true;
                continue;
            }
            _ => {}
        }
        let v = it
            .next()
            .ok_or_else(|| format!("{flag}: missing its value"))?;
        match flag.as_str() {
            "--url" => a.url = v,
            "--k" => a.k = count(&flag, &v, 1, 1_000_000)?,
            "--workers" => a.workers = count(&flag, &v, 1, 64)?,
            "--duration" => a.duration = seconds(&flag, &v)?,
            "--warmup" => a.warmup = seconds(&flag, &v)?,
            "--concurrency" => a.concurrency = count(&flag, &v, 1, 100_000)?,
            "--stream-s" => a.stream = seconds(&flag, &v)?,
            "--server-pid" => {
                a.server_pid = v.parse().map_err(|_| format!("{flag}: not a pid: {v:?}"))?
            }
            "--api-key" => a.api_key = v,
            "--read-buffer" => a.read_buffer = count(&flag, &v, 1024, 1 << 24)?,
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    if !a.url.starts_with("ws://") {
        return Err(format!("--url must be a ws:// URL, got {:?}", a.url));
    }
    if a.k == 0 {
        return Err("--k is required".to_owned());
    }
    if !a.idle && a.duration.is_zero() {
        return Err("--duration must be above 0".to_owned());
    }
    Ok(Some(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn parse(s: Vec<String>) -> Result<Args, String> {
        super::parse(s).and_then(|a| a.ok_or_else(|| "help".to_owned()))
    }

    #[test]
    fn help() {
        assert_eq!(super::parse(argv("--help")), Ok(None));
        assert_eq!(super::parse(argv("--url ws://h/ -h")), Ok(None));
    }

    #[test]
    fn full_command_line() {
        let a = parse(argv(
            "--url ws://127.0.0.1:9/v1/realtime?model=m --k 100 --workers 2 --duration 2.5 \
             --warmup 0.5 --concurrency 7 --stream-s 20 --server-pid 42 --api-key sk-x \
             --read-buffer 65536",
        ))
        .expect("valid");
        assert_eq!(a.k, 100);
        assert_eq!(a.workers, 2);
        assert_eq!(a.duration, Duration::from_millis(2500));
        assert_eq!(a.warmup, Duration::from_millis(500));
        assert_eq!(a.concurrency, 7);
        assert_eq!(a.stream, Duration::from_secs(20));
        assert_eq!(a.server_pid, 42);
        assert_eq!(a.api_key, "sk-x");
        assert_eq!(a.read_buffer, 65536);
        assert!(!a.idle);
    }

    #[test]
    fn defaults_and_idle() {
        let a = parse(argv("--url ws://h:1/v1/realtime --k 3 --idle")).expect("valid");
        assert_eq!((a.workers, a.concurrency, a.idle), (1, 50, true));
        assert_eq!(a.read_buffer, 4096);
        assert_eq!(a.duration, Duration::from_secs(10));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            "--k 3",
            "--url http://h/ --k 3",
            "--url ws://h/ --k 0",
            "--url ws://h/ --k -1",
            "--url ws://h/ --k 3 --workers 0",
            "--url ws://h/ --k 3 --duration nan",
            "--url ws://h/ --k 3 --duration -1",
            "--url ws://h/ --k 3 --duration 0",
            "--url ws://h/ --k 3 --warmup",
            "--url ws://h/ --k 3 --bogus 1",
            "--url ws://h/ --k 3 --read-buffer 10",
        ] {
            assert!(parse(argv(bad)).is_err(), "{bad}");
        }
    }
}
