//! The socket task against real loopback peers: tungstenite as an independent,
//! well-behaved server, and raw TCP servers that misbehave on purpose.

use super::*;
use crate::connection::codec::{encode_frame, OP_TEXT};
use crate::connection::{open, ConnectConfig, Redactor, SendError, Socket};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as TMessage;

#[derive(Default)]
struct Sink {
    texts: Mutex<Vec<String>>,
    end: Mutex<Option<oneshot::Sender<SocketEnd>>>,
    panic_on: Option<&'static str>,
    limit: Option<usize>,
    capacity: futures_util::task::AtomicWaker,
    over: AtomicBool,
    count: AtomicUsize,
}

impl FrameSink for Sink {
    fn on_message(&self, msg: Message) {
        if let Message::Text(t) = msg {
            if self.panic_on == Some(t.as_str()) {
                panic!("deliberate test panic");
            }
            self.texts.lock().push(t.as_str().to_owned());
            let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
            if self.limit.is_some_and(|l| n >= l) {
                self.over.store(true, Ordering::SeqCst);
            }
        }
    }
    fn on_end(&self, end: SocketEnd) {
        if let Some(tx) = self.end.lock().take() {
            let _ = tx.send(end);
        }
    }
    fn poll_capacity(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if !self.over.load(Ordering::SeqCst) {
            return std::task::Poll::Ready(());
        }
        self.capacity.register(cx.waker());
        if self.over.load(Ordering::SeqCst) {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    }
}

fn config(port: u16) -> ConnectConfig {
    ConnectConfig {
        url: format!("ws://127.0.0.1:{port}/v1/realtime?model=m"),
        headers: vec![("Authorization".into(), "Bearer sk-test-123456".into())],
        subprotocols: vec![],
        connect_timeout: Duration::from_secs(5),
        proxy: None,
        extra_ca_pem: None,
        redactor: Redactor::default(),
    }
}

fn opts() -> SocketOptions {
    SocketOptions {
        ping_interval: None,
        ping_timeout: Duration::from_secs(5),
        close_timeout: Duration::from_millis(300),
        max_message: Some(1 << 20),
    }
}

/// Connects, starts the task; returns the socket, the sink and the end receiver.
async fn start(
    port: u16,
    sink: Sink,
    opts: SocketOptions,
) -> (Arc<Socket>, Arc<Sink>, oneshot::Receiver<SocketEnd>) {
    let (tx, rx) = oneshot::channel();
    *sink.end.lock() = Some(tx);
    let sink = Arc::new(sink);
    let socket = Arc::new(Socket::new());
    socket.send_text(b"queued before open").expect("queued");
    let c = open(&config(port)).await.expect("connects");
    socket.attach(c.io);
    tokio::spawn(run(socket.clone(), c.leftover, sink.clone(), opts));
    (socket, sink, rx)
}

async fn end_within(rx: oneshot::Receiver<SocketEnd>, secs: f64) -> SocketEnd {
    tokio::time::timeout(Duration::from_secs_f64(secs), rx)
        .await
        .expect("ended in time")
        .expect("on_end called")
}

/// A raw server: accepts one connection, answers the upgrade, then runs `then`.
async fn raw_server<F, Fut>(then: F) -> u16
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).await.expect("read");
            buf.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&buf).to_string();
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("key")
            .trim()
            .to_owned();
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            crate::connection::handshake::accept_of(&key)
        );
        s.write_all(resp.as_bytes()).await.expect("write");
        then(s).await;
    });
    port
}

/// Reads client frames (opcode, unmasked payload) until `done` says so.
async fn read_client_frames(
    s: &mut TcpStream,
    done: impl Fn(&[(u8, Vec<u8>)]) -> bool,
) -> Vec<(u8, Vec<u8>)> {
    use std::io::Cursor;
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut chunk = [0u8; 4096];
    while !done(&frames) {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "peer closed");
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let mut cur = Cursor::new(&buf[..]);
            let Some((head, len)) = FrameHeader::parse(&mut cur).expect("frame") else {
                break;
            };
            let start = cur.position() as usize;
            if buf.len() < start + len as usize {
                break;
            }
            let mut payload = buf[start..start + len as usize].to_vec();
            crate::connection::codec::apply_mask(&mut payload, head.mask.expect("masked"));
            frames.push((u8::from(head.opcode), payload));
            buf.drain(..start + len as usize);
        }
    }
    frames
}

fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    assert!(payload.len() < 126);
    f.push(payload.len() as u8);
    f.extend_from_slice(payload);
    f
}

#[tokio::test]
async fn round_trip_with_tungstenite_and_clean_close() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(s).await.expect("upgrade");
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Some(Ok(TMessage::Text(t))) = ws.next().await {
                got.push(t.to_string());
            }
        }
        ws.send(TMessage::text("{\"type\":\"hello\"}"))
            .await
            .expect("send");
        // The close handshake: tungstenite queues the echo of our close; flush it.
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
        let _ = SinkExt::flush(&mut ws).await;
        got
    });
    let (socket, sink, rx) = start(port, Sink::default(), opts()).await;
    socket.send_text(b"after open").expect("send");
    while sink.texts.lock().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(sink.texts.lock().as_slice(), ["{\"type\":\"hello\"}"]);
    assert!(socket.close(1000, "bye"));
    assert!(!socket.close(1000, "again"), "close starts once");
    assert_eq!(socket.send_text(b"late"), Err(SendError::Closed));
    let end = end_within(rx, 2.0).await;
    assert_eq!(end.code, Some(1000));
    assert_eq!(end.error, None);
    assert_eq!(
        server.await.expect("server"),
        vec!["queued before open".to_owned(), "after open".to_owned()]
    );
}

#[tokio::test]
async fn half_closed_server_is_dropped_after_close_timeout_with_its_code() {
    let port = raw_server(|mut s| async move {
        let mut p = 4000u16.to_be_bytes().to_vec();
        p.extend_from_slice(b"bye");
        s.write_all(&server_frame(0x8, &p)).await.expect("close");
        // Keep TCP open and keep reading, well past the client's close timeout.
        let mut buf = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    })
    .await;
    let started = Instant::now();
    let (socket, _sink, rx) = start(port, Sink::default(), opts()).await;
    let end = end_within(rx, 2.0).await;
    assert_eq!(
        (end.code, end.reason.as_str(), end.error),
        (Some(4000), "bye", None)
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(socket.send_text(b"x"), Err(SendError::Closed));
}

#[tokio::test]
async fn invalid_close_code_is_reported_as_sent() {
    let port = raw_server(|mut s| async move {
        let mut p = 999u16.to_be_bytes().to_vec();
        p.extend_from_slice(b"odd");
        s.write_all(&server_frame(0x8, &p)).await.expect("close");
        // Our reply must be a close with 1002 (protocol error).
        let frames = read_client_frames(&mut s, |f| f.iter().any(|(op, _)| *op == 0x8)).await;
        let close = frames.iter().find(|(op, _)| *op == 0x8).expect("close");
        assert_eq!(&close.1[..2], &1002u16.to_be_bytes());
    })
    .await;
    let (_socket, _sink, rx) = start(port, Sink::default(), opts()).await;
    let end = end_within(rx, 2.0).await;
    assert_eq!(end.code, Some(999));
    assert_eq!(end.reason, "odd");
    assert!(end.error.unwrap_or_default().contains("999"));
}

#[tokio::test]
async fn eof_without_close_frame_and_leftover_frames_right_after_101() {
    let port = raw_server(|mut s| async move {
        // Written right behind the 101 answer: the client reads it with the head.
        s.write_all(&server_frame(0x1, b"first"))
            .await
            .expect("write");
        s.write_all(&server_frame(0x9, b"pi")).await.expect("ping");
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while got.len() < 14 {
            let n = s.read(&mut buf).await.expect("read");
            got.extend_from_slice(&buf[..n]);
        }
        drop(s);
    })
    .await;
    let (_socket, sink, rx) = start(port, Sink::default(), opts()).await;
    let end = end_within(rx, 2.0).await;
    assert_eq!(end.code, None);
    assert!(end
        .error
        .unwrap_or_default()
        .contains("without a close frame"));
    assert_eq!(sink.texts.lock().as_slice(), ["first"]);
}

#[tokio::test]
async fn protocol_violation_fails_with_1002() {
    let port = raw_server(|mut s| async move {
        // A masked frame from a server is a protocol error.
        s.write_all(&[0x81, 0x81, 1, 2, 3, 4, b'x' ^ 1])
            .await
            .expect("write");
        let frames = read_client_frames(&mut s, |f| f.iter().any(|(op, _)| *op == 0x8)).await;
        let close = frames.iter().find(|(op, _)| *op == 0x8).expect("close");
        assert_eq!(&close.1[..2], &1002u16.to_be_bytes());
    })
    .await;
    let (_socket, _sink, rx) = start(port, Sink::default(), opts()).await;
    let end = end_within(rx, 2.0).await;
    assert!(end.error.unwrap_or_default().contains("masked"));
}

#[tokio::test]
async fn dead_peer_is_detected_and_pings_are_sent() {
    let pings = Arc::new(AtomicUsize::new(0));
    let seen = pings.clone();
    let port = raw_server(move |mut s| async move {
        // Read (and count ping frames), never answer.
        let frames = read_client_frames(&mut s, |f| f.iter().any(|(op, _)| *op == 0x9)).await;
        seen.fetch_add(
            frames.iter().filter(|(op, _)| *op == 0x9).count(),
            Ordering::SeqCst,
        );
        let mut buf = [0u8; 1024];
        while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    let o = SocketOptions {
        ping_interval: Some(Duration::from_millis(100)),
        ping_timeout: Duration::from_millis(100),
        ..opts()
    };
    let (_socket, _sink, rx) = start(port, Sink::default(), o).await;
    let end = end_within(rx, 2.0).await;
    assert!(end.error.unwrap_or_default().contains("keepalive timeout"));
    assert!(pings.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn server_pings_are_answered_with_pongs() {
    let port = raw_server(|mut s| async move {
        s.write_all(&server_frame(0x9, b"abcd"))
            .await
            .expect("ping");
        let frames = read_client_frames(&mut s, |f| f.iter().any(|(op, _)| *op == 0xA)).await;
        let pong = frames.iter().find(|(op, _)| *op == 0xA).expect("pong");
        assert_eq!(pong.1, b"abcd");
        let mut p = 1000u16.to_be_bytes().to_vec();
        p.extend_from_slice(b"ok");
        s.write_all(&server_frame(0x8, &p)).await.expect("close");
    })
    .await;
    let (_socket, _sink, rx) = start(port, Sink::default(), opts()).await;
    let end = end_within(rx, 2.0).await;
    assert_eq!(end.code, Some(1000));
}

#[tokio::test]
async fn unanswered_client_close_times_out_with_an_error() {
    let port = raw_server(|mut s| async move {
        let mut buf = [0u8; 256];
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    })
    .await;
    let (socket, _sink, rx) = start(port, Sink::default(), opts()).await;
    socket.close(1000, "");
    let end = end_within(rx, 2.0).await;
    assert!(end
        .error
        .unwrap_or_default()
        .contains("did not answer the close frame"));
}

#[tokio::test]
async fn a_panicking_sink_still_ends_the_socket_with_an_error() {
    let port = raw_server(|mut s| async move {
        s.write_all(&server_frame(0x1, b"boom"))
            .await
            .expect("write");
        let mut buf = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
    })
    .await;
    let sink = Sink {
        panic_on: Some("boom"),
        ..Sink::default()
    };
    let (socket, _sink, rx) = start(port, sink, opts()).await;
    let end = end_within(rx, 2.0).await;
    let err = end.error.unwrap_or_default();
    assert!(
        err.contains("internal error") && err.contains("deliberate test panic"),
        "{err}"
    );
    assert_eq!(socket.send_text(b"x"), Err(SendError::Closed));
}

#[tokio::test]
async fn a_paused_consumer_is_not_a_dead_peer_and_loses_nothing() {
    const N: usize = 2000;
    let port = raw_server(|mut s| async move {
        for i in 0..N {
            let body = format!("{{\"n\":{i}}}");
            s.write_all(&server_frame(0x1, body.as_bytes()))
                .await
                .expect("write");
        }
        let mut buf = [0u8; 256];
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    })
    .await;
    let sink = Sink {
        limit: Some(10),
        ..Sink::default()
    };
    let o = SocketOptions {
        ping_interval: Some(Duration::from_millis(50)),
        ping_timeout: Duration::from_millis(50),
        ..opts()
    };
    let (_socket, sink, mut rx) = start(port, sink, o).await;
    // Stalled for 8x the keepalive limit: still alive.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(rx.try_recv().is_err(), "the paused socket was not ended");
    assert!(sink.texts.lock().len() < N);
    // Release: drain in steps, as the hub does.
    loop {
        sink.count.store(0, Ordering::SeqCst);
        sink.over.store(false, Ordering::SeqCst);
        sink.capacity.wake();
        tokio::time::sleep(Duration::from_millis(5)).await;
        if sink.texts.lock().len() >= N {
            break;
        }
    }
    let texts = sink.texts.lock().clone();
    assert_eq!(texts.len(), N);
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(t, &format!("{{\"n\":{i}}}"));
    }
}

#[tokio::test]
async fn many_frames_in_order_through_the_direct_write_path() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    const N: usize = 5000;
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(s).await.expect("upgrade");
        let mut got = Vec::new();
        while got.len() < N + 1 {
            match ws.next().await {
                Some(Ok(TMessage::Text(t))) => got.push(t.to_string()),
                other => panic!("{other:?}"),
            }
        }
        got
    });
    let (socket, _sink, _rx) = start(port, Sink::default(), opts()).await;
    // Large frames from several threads: partial writes and WouldBlock are
    // handed to the task; order per thread must hold.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                for i in 0..N / 4 {
                    let body = format!("{t}:{i}:{}", "x".repeat(3000));
                    socket.send_text(body.as_bytes()).expect("send");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let got = server.await.expect("server");
    assert_eq!(got[0], "queued before open");
    for t in 0..4 {
        let seq: Vec<usize> = got[1..]
            .iter()
            .filter_map(|s| {
                let mut it = s.splitn(3, ':');
                (it.next()? == t.to_string()).then(|| it.next()?.parse().ok())?
            })
            .collect();
        assert_eq!(seq, (0..N / 4).collect::<Vec<_>>(), "thread {t} in order");
    }
}

#[test]
fn encode_frame_matches_what_send_text_writes() {
    let mut out = Vec::new();
    encode_frame(OP_TEXT, b"hi", [0, 0, 0, 0], &mut out);
    assert_eq!(out, vec![0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
}

/// The socket task's future is what an idle session costs on the runtime:
/// a regression here is paid once per socket.
#[test]
fn the_socket_task_stays_small() {
    let socket = Arc::new(Socket::new());
    let sink: Arc<dyn FrameSink> = Arc::new(Sink::default());
    let fut = run(socket, Vec::new(), sink, opts());
    // 800 before the stats counters (pause start, frames per read pass).
    assert!(size_of_val(&fut) <= 816, "{} bytes", size_of_val(&fut));
}

/// The connect future lives while a handshake runs; with many connects in
/// flight its size sets the memory peak (and the fragmentation it leaves).
#[test]
fn the_connect_future_stays_small() {
    let cfg = config(1);
    let fut = open(&cfg);
    assert!(size_of_val(&fut) <= 2048, "{} bytes", size_of_val(&fut));
}
