//! The floor of the load benchmark (benches/load/README.md, "The floor"): K full-duplex
//! sessions against the mock server with exactly the traffic of benches/load/harness.py,
//! in pure Rust (tokio + tokio-tungstenite, no Python). Its CPU per session-second is what
//! the socket traffic itself costs; every client is reported as a multiple of it.
//!
//! The same phases and measures as `harness.run_load` / `run_idle`; prints one JSON line
//! (the keys of the Python child's result that apply) on stdout, phase markers on stderr.

mod args;
mod frame;
mod procstat;
mod session;
mod ticker;

use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt as _;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use args::Args;
use session::{Counters, Outcome, Session, Shared, Sink};
use ticker::{Ticker, TICK};

/// 24 kHz PCM16 mono.
const BYTES_PER_S: f64 = 48_000.0;
/// The bound on each close (as the harness's `_close_all`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);
/// What this client is, for the result's `version` (the pins of Cargo.toml).
const STACK: &str = "tokio 1.54.1, tokio-tungstenite 0.30.0, serde_json 1.0.154, base64 0.23.1";

fn log(msg: &str) {
    eprintln!("[load-floor] {msg}");
}

fn version(workers: usize) -> String {
    let s = if workers == 1 { "" } else { "s" };
    format!(
        "load-floor {} ({STACK}; {workers} worker{s})",
        env!("CARGO_PKG_VERSION")
    )
}

/// Nearest-rank percentile of an ascending slice (NaN if empty), as harness.percentile.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn received(counters: &[Arc<Counters>]) -> (u64, u64) {
    counters.iter().fold((0, 0), |(b, d), c| {
        (b + c.bytes.load(Relaxed), d + c.deltas.load(Relaxed))
    })
}

/// Opens one session per slot, `concurrency` handshakes in flight; returns them in order
/// and the wall time it took, or the first error with the count of failures.
async fn connect_all(a: &Args, shared: &Arc<Shared>) -> Result<(Vec<Session>, f64), String> {
    let sem = Arc::new(Semaphore::new(a.concurrency));
    let url: Arc<str> = a.url.as_str().into();
    let key: Arc<str> = a.api_key.as_str().into();
    let read_buffer = a.read_buffer;
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..a.k)
        .map(|_| {
            let (sem, url, key, shared) = (
                Arc::clone(&sem),
                Arc::clone(&url),
                Arc::clone(&key),
                Arc::clone(shared),
            );
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
                session::connect(&url, &key, read_buffer, shared).await
            })
        })
        .collect();
    let mut sessions = Vec::with_capacity(a.k);
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(s)) => sessions.push(s),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    if let Some(first) = errors.first() {
        return Err(format!(
            "{} of {} connects failed; first: {first}",
            errors.len(),
            a.k
        ));
    }
    Ok((sessions, elapsed))
}

/// Closes every session (close handshake, `concurrency` at a time) and collects what each
/// reader saw. A reader that does not end within the bound is an error.
async fn close_all(
    halves: Vec<(Sink, tokio::task::JoinHandle<Outcome>)>,
    concurrency: usize,
) -> Result<Vec<Outcome>, String> {
    let sem = Arc::new(Semaphore::new(concurrency));
    let tasks: Vec<_> = halves
        .into_iter()
        .map(|(mut sink, reader)| {
            let sem = Arc::clone(&sem);
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
                // The server may already have closed: a failed close is not an error here.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
                match tokio::time::timeout(CLOSE_TIMEOUT, reader).await {
                    Ok(Ok(outcome)) => Ok(outcome),
                    Ok(Err(e)) => Err(format!("reader failed: {e}")),
                    Err(_) => Err("a reader did not end after the close".to_owned()),
                }
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(out)
}

async fn run_load(a: Args) -> Result<Value, String> {
    let shared = Arc::new(Shared::new(a.k));
    let rss0 = procstat::status_bytes("VmRSS");
    let t_start = Instant::now();

    log(&format!(
        "connecting {} sessions ({} worker(s))",
        a.k, a.workers
    ));
    let (sessions, connect_s) = connect_all(&a, &shared).await?;
    log(&format!("connected in {connect_s:.2} s; warm-up"));
    let mut sinks = Vec::with_capacity(a.k);
    let mut readers = Vec::with_capacity(a.k);
    let mut counters = Vec::with_capacity(a.k);
    for s in sessions {
        sinks.push(s.sink);
        readers.push(s.reader);
        counters.push(s.counters);
    }
    let pcm = frame::quiet_pcm();
    let chunk_bytes = pcm.len() as u64;
    let ticker = Arc::new(Ticker::default());
    let ticker_task = tokio::spawn(Arc::clone(&ticker).run(sinks, pcm));
    tokio::time::sleep(a.warmup).await;
    let done_before_window = shared.done.load(Relaxed);

    // -- the window ------------------------------------------------------------------
    let (bytes0, _) = received(&counters);
    let chunks0 = ticker.chunks_sent.load(Relaxed);
    let server_stat = format!("/proc/{}/stat", a.server_pid);
    let server_cpu = || {
        if a.server_pid == 0 {
            f64::NAN
        } else {
            procstat::stat_cpu_seconds(&server_stat)
        }
    };
    let wall0 = Instant::now();
    let (user0, sys0) = procstat::cpu_times();
    let server0 = server_cpu();
    shared.measuring.store(true, Relaxed);
    ticker.measuring.store(true, Relaxed);
    tokio::time::sleep(a.duration).await;
    shared.measuring.store(false, Relaxed);
    ticker.measuring.store(false, Relaxed);
    let (user1, sys1) = procstat::cpu_times();
    let server1 = server_cpu();
    let wall = wall0.elapsed().as_secs_f64();
    let (bytes1, _) = received(&counters);
    let chunks1 = ticker.chunks_sent.load(Relaxed);
    let done_in_window = shared.done.load(Relaxed);
    let rss1 = procstat::status_bytes("VmRSS");
    let hwm = procstat::status_bytes("VmHWM");
    let (cpu0, cpu1) = (user0 + sys0, user1 + sys1);
    // ----------------------------------------------------------------------------------

    ticker.stop();
    let (sinks, lags) = ticker_task.await.map_err(|e| e.to_string())??;
    log(&format!(
        "window done ({:.2} CPU s in {wall:.2} s); waiting for the streams",
        cpu1 - cpu0
    ));
    // Every stream ends by itself; wait for all of them (bounded) before counting bytes.
    let budget = a
        .stream
        .saturating_sub(t_start.elapsed())
        .max(Duration::from_secs(5))
        + Duration::from_secs(30);
    let wait = async {
        while shared.done.load(Relaxed) < a.k {
            shared.all_done.notified().await;
        }
    };
    let _ = tokio::time::timeout(budget, wait).await;
    let (received_bytes, deltas) = received(&counters);
    let streams_done = shared.done.load(Relaxed);
    log(&format!("{streams_done}/{} streams done; closing", a.k));
    let outcomes = close_all(sinks.into_iter().zip(readers).collect(), a.concurrency).await?;

    let bad: u64 = outcomes.iter().map(|o| o.bad_frames).sum();
    let mut lat: Vec<f64> = outcomes
        .iter()
        .flat_map(|o| o.latencies_ns.iter().map(|&ns| ns as f64 / 1e6))
        .collect();
    lat.sort_by(f64::total_cmp);
    let mut lags: Vec<f64> = lags.into_iter().map(|s| s * 1e3).collect();
    lags.sort_by(f64::total_cmp);
    let cpu = cpu1 - cpu0;
    let k = a.k as f64;
    let mut out = json!({
        "version": version(a.workers),
        "workers": a.workers,
        "k": a.k,
        "window_s": wall,
        "cpu_s": cpu,
        "cpu_ms_per_session_s": cpu / (k * wall) * 1e3,
        "cpu_cores": cpu / wall,
        "cpu_sys_share": if cpu > 0.0 { (sys1 - sys0) / cpu } else { f64::NAN },
        // No event-loop thread: every frame is handled on the tokio workers.
        "cpu_main_thread_cores": Value::Null,
        "server_cpu_cores": (server1 - server0) / wall,
        "latency_ms": {
            "p50": percentile(&lat, 50.0),
            "p99": percentile(&lat, 99.0),
            "max": lat.last().copied().unwrap_or(f64::NAN),
            "samples": lat.len(),
        },
        "ticker_lag_ms": {
            "p99": percentile(&lags, 99.0),
            "max": lags.last().copied().unwrap_or(f64::NAN),
        },
        "rx_realtime_ratio": (bytes1 - bytes0) as f64 / (k * BYTES_PER_S * wall),
        "tx_realtime_ratio": (chunks1 - chunks0) as f64 * TICK.as_secs_f64() / (k * wall),
        "rss_start_bytes": rss0,
        "rss_window_end_bytes": rss1,
        "rss_peak_bytes": hwm,
        "rss_per_session_bytes": (rss1 as f64 - rss0 as f64) / k,
        "connect_s": connect_s,
        "connect_ms_per_session": connect_s / k * 1e3,
        "audio_bytes_received": received_bytes,
        "audio_deltas_received": deltas,
        "audio_bytes_appended": ticker.chunks_sent.load(Relaxed) * chunk_bytes,
        "streams_done": streams_done,
        "streams_done_before_window_end": done_in_window,
        "streams_done_before_window": done_before_window,
        "server_errors": outcomes.iter().map(|o| o.server_errors).sum::<u64>(),
        "read_errors": outcomes.iter().filter(|o| o.read_error.is_some()).count(),
        "bad_frames": bad,
    });
    if let Some(first) = outcomes.iter().find_map(|o| o.first_bad.as_deref()) {
        out["error"] = json!(format!("{bad} bad frame(s); first: {first}"));
    }
    Ok(out)
}

async fn run_idle(a: Args) -> Result<Value, String> {
    // One session first and closed again: runtime threads and buffers are then already in
    // the baseline, as in harness.run_idle.
    let warm_shared = Arc::new(Shared::new(1));
    let warm = session::connect(&a.url, &a.api_key, a.read_buffer, warm_shared).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    close_all(vec![(warm.sink, warm.reader)], 1).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss0 = procstat::status_bytes("VmRSS");
    let shared = Arc::new(Shared::new(a.k));
    let (sessions, connect_s) = connect_all(&a, &shared).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = procstat::status_bytes("VmRSS");
    let hwm = procstat::status_bytes("VmHWM");
    let outcomes = close_all(
        sessions.into_iter().map(|s| (s.sink, s.reader)).collect(),
        a.concurrency,
    )
    .await?;
    let mut out = json!({
        "version": version(a.workers),
        "workers": a.workers,
        "k": a.k,
        "rss_before_bytes": rss0,
        "rss_open_bytes": rss1,
        "rss_peak_bytes": hwm,
        "rss_per_session_bytes": (rss1 as f64 - rss0 as f64) / a.k as f64,
        "connect_ms_per_session": connect_s / a.k as f64 * 1e3,
    });
    if let Some(first) = outcomes.iter().find_map(|o| o.first_bad.as_deref()) {
        out["error"] = json!(format!("bad frame: {first}"));
    }
    Ok(out)
}

fn main() -> ExitCode {
    let a = match args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("load-floor: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load-floor: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Everything runs in a spawned task, on the workers: the main thread only waits.
    let idle = a.idle;
    let result = rt.block_on(async move {
        let task = if idle {
            tokio::spawn(run_idle(a))
        } else {
            tokio::spawn(run_load(a))
        };
        task.await.map_err(|e| e.to_string())?
    });
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("load-floor: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn version_names_the_pinned_stack() {
        let manifest = include_str!("../Cargo.toml");
        for pin in [
            "tokio = { version = \"=1.54.1\"",
            "tokio-tungstenite = { version = \"=0.30.0\"",
            "serde_json = { version = \"=1.0.154\"",
            "base64 = { version = \"=0.23.1\"",
        ] {
            assert!(manifest.contains(pin), "{pin}");
        }
        assert!(version(2).ends_with("2 workers)"));
    }
}
