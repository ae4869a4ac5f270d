//! Socket-level tests: a real listener on loopback, driven by a tungstenite
//! client and by raw TCP for the plain-HTTP paths.

use super::*;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

async fn start(options: &str) -> MockServerHandle {
    let config = MockConfig::from_json(options).expect("valid options");
    MockServerHandle::start("127.0.0.1", 0, config)
        .await
        .expect("bind")
}

type Client = WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(server: &MockServerHandle, query: &str, headers: &[(&str, &str)]) -> Client {
    let url = format!("ws://{}/v1/realtime{query}", server.local_addr());
    let mut req = url.into_client_request().expect("request");
    for (k, v) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
            .expect("name");
        req.headers_mut()
            .insert(name, HeaderValue::from_str(v).expect("header"));
    }
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    ws
}

async fn next_json(ws: &mut Client) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("no error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("JSON");
        }
    }
}

/// Reads until the close frame; returns its code and reason.
async fn close_of(ws: &mut Client) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Close(Some(f)))) => {
                // Keep polling so tungstenite flushes our close reply.
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.next()).await;
                return (u16::from(f.code), f.reason.to_string());
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn http_get(server: &MockServerHandle, path: &str) -> String {
    let mut tcp = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test]
async fn handshake_is_recorded_and_session_created_sent() {
    let server = start("{}").await;
    let mut ws = connect(
        &server,
        "?model=gpt-realtime&x=1",
        &[("authorization", "Bearer k"), ("x-extra", "v")],
    )
    .await;
    let ev = next_json(&mut ws).await;
    assert_eq!(ev["type"], "session.created");
    assert_eq!(ev["session"]["model"], "gpt-realtime");
    let conns = server.connections();
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(c.info.path, "/v1/realtime");
    assert!(c.info.query.contains(&("x".to_owned(), "1".to_owned())));
    assert!(c
        .info
        .headers
        .contains(&("x-extra".to_owned(), "v".to_owned())));
    assert_eq!((c.status.open, c.status.http_status), (true, Some(101)));
    ws.send(Message::text(r#"{"type":"bogus","event_id":"b1"}"#))
        .await
        .expect("send");
    let err = next_json(&mut ws).await;
    assert_eq!(err["error"]["event_id"], "b1");
    let recv: Value =
        serde_json::from_str(&server.received_json(None, None).expect("ok")).expect("JSON");
    assert_eq!(
        recv,
        json!([{"type": "bogus", "event_id": "b1", "__invalid__": true}])
    );
    ws.close(None).await.expect("close");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connections()[0].status.open && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.connections()[0].status.closed_by, Some("client"));
    server.stop().await;
}

#[tokio::test]
async fn auth_and_shape_failures_close_after_an_error() {
    let server = start(r#"{"api_key": "sk-right"}"#).await;
    for (query, headers, code, reason) in [
        (
            "?model=m",
            vec![],
            3000,
            "invalid_request_error.invalid_api_key",
        ),
        (
            "?model=m",
            vec![("authorization", "Bearer sk-wrong")],
            3000,
            "invalid_request_error.invalid_api_key",
        ),
        (
            "",
            vec![("authorization", "Bearer sk-right")],
            4000,
            "invalid_request_error.missing_model",
        ),
        (
            "?model=m",
            vec![
                ("authorization", "Bearer sk-right"),
                ("openai-beta", "realtime=v1"),
            ],
            4000,
            "invalid_request_error.beta_api_shape_disabled",
        ),
    ] {
        let mut ws = connect(&server, query, &headers).await;
        let ev = next_json(&mut ws).await;
        assert_eq!(ev["type"], "error");
        assert_eq!(
            format!(
                "{}.{}",
                ev["error"]["type"].as_str().unwrap_or(""),
                ev["error"]["code"].as_str().unwrap_or("")
            ),
            reason
        );
        assert!(!ev.to_string().contains("sk-"), "keys are never echoed");
        assert_eq!(close_of(&mut ws).await, (code, reason.to_owned()));
    }
    let mut ok = connect(&server, "?model=m", &[("authorization", "Bearer sk-right")]).await;
    assert_eq!(next_json(&mut ok).await["type"], "session.created");
    ok.close(None).await.expect("close");
    let mut ok = connect(
        &server,
        "?model=m",
        &[(
            "sec-websocket-protocol",
            "realtime, openai-insecure-api-key.sk-right",
        )],
    )
    .await;
    assert_eq!(next_json(&mut ok).await["type"], "session.created");
    assert_eq!(
        server.connections()[5].info.selected_subprotocol.as_deref(),
        Some("realtime")
    );
    let (_, close) = tokio::join!(server.stop(), close_of(&mut ok));
    assert_eq!(close.0, 1001);
}

#[tokio::test]
async fn plain_http_stats_and_rejections() {
    let server = start(r#"{"reject_status": 503}"#).await;
    let stats = http_get(&server, "/stats").await;
    assert!(stats.starts_with("HTTP/1.1 200 OK\r\n"), "{stats}");
    let body: Value =
        serde_json::from_str(stats.split("\r\n\r\n").nth(1).expect("body")).expect("JSON");
    assert_eq!(body["connections_total"], 0);
    assert_eq!(body["audio_bytes_sent"], 0);
    assert!(http_get(&server, "/nope").await.starts_with("HTTP/1.1 404"));
    assert!(http_get(&server, "/v1/realtime")
        .await
        .starts_with("HTTP/1.1 426"));
    let url = format!("ws://{}/v1/realtime?model=m", server.local_addr());
    let err = tokio_tungstenite::connect_async(url)
        .await
        .expect_err("rejected");
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(server.connections()[0].status.http_status, Some(503));
    server.stop().await;
}

#[tokio::test]
async fn stop_closes_connections_with_1001_and_control_commands_work() {
    let server = start(r#"{"ping_interval_s": 0.05}"#).await;
    let mut a = connect(&server, "?model=m", &[]).await;
    next_json(&mut a).await;
    server
        .control(None, Control::Text(r#"{"type":"injected"}"#.into()))
        .expect("open");
    assert_eq!(next_json(&mut a).await["type"], "injected");
    // The client answers pings while it reads.
    let mut stats = Value::Null;
    for _ in 0..100 {
        let _ = tokio::time::timeout(Duration::from_millis(20), a.next()).await;
        stats = serde_json::from_str(&server.stats_json()).expect("JSON");
        if stats["pongs_received"].as_u64().is_some_and(|n| n >= 2) {
            break;
        }
    }
    assert!(
        stats["pings_sent"].as_u64().is_some_and(|n| n >= 2),
        "{stats}"
    );
    assert!(
        stats["pongs_received"].as_u64().is_some_and(|n| n >= 2),
        "{stats}"
    );
    let mut b = connect(&server, "?model=m", &[]).await;
    next_json(&mut b).await;
    server
        .control(
            Some(1),
            Control::Close {
                code: 4321,
                reason: "bye".into(),
            },
        )
        .expect("open");
    assert_eq!(close_of(&mut b).await, (4321, "bye".to_owned()));
    assert!(server.control(Some(7), Control::Drop).is_err());
    let stop = server.stop();
    let (_, close) = tokio::join!(stop, close_of(&mut a));
    assert_eq!(close.0, 1001);
    assert!(server.connections().iter().all(|c| !c.status.open));
    assert!(
        TcpStream::connect(server.local_addr()).await.is_err(),
        "the listener is closed"
    );
}
