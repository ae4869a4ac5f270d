use super::*;
use proptest::prelude::*;
use std::io::Cursor;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

/// A server frame (unmasked) built by tungstenite: an independent encoder.
fn server_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        is_final: fin,
        opcode,
        ..FrameHeader::default()
    };
    let mut out = Vec::new();
    Frame::from_payload(header, Bytes::copy_from_slice(payload))
        .format(&mut out)
        .expect("format");
    out
}

fn decode_all(dec: &mut Decoder, chunks: &[&[u8]]) -> Result<Vec<Message>, DecodeError> {
    let mut got = Vec::new();
    for c in chunks {
        dec.feed(c, &mut |m| got.push(m))?;
    }
    Ok(got)
}

fn text(s: &str) -> Message {
    Message::Text(Text::from(s))
}

#[test]
fn single_text_frame() {
    let f = server_frame(OpCode::Data(Data::Text), true, b"{\"type\":\"x\"}");
    let mut d = Decoder::new(None);
    assert_eq!(
        decode_all(&mut d, &[&f]),
        Ok(vec![text("{\"type\":\"x\"}")])
    );
    assert!(d.is_idle());
    assert_eq!(d.buffered_capacity(), 0);
}

#[test]
fn header_split_byte_by_byte_and_16_and_64_bit_lengths() {
    for len in [0usize, 125, 126, 65535, 65536, 70000] {
        let payload = vec![b'a'; len];
        let f = server_frame(OpCode::Data(Data::Binary), true, &payload);
        let mut d = Decoder::new(None);
        let chunks: Vec<&[u8]> = f.chunks(1).collect();
        let got = decode_all(&mut d, &chunks).expect("decodes");
        assert_eq!(
            got,
            vec![Message::Binary(Bytes::from(payload))],
            "len {len}"
        );
        assert!(d.is_idle());
    }
}

#[test]
fn large_payload_is_received_into_one_buffer_of_exact_size() {
    let payload = vec![7u8; 100_000];
    let f = server_frame(OpCode::Data(Data::Binary), true, &payload);
    let mut d = Decoder::new(None);
    d.feed(&f[..1000], &mut |_| {}).expect("partial");
    assert_eq!(d.buffered_capacity(), 100_000);
    let mut got = None;
    d.feed(&f[1000..], &mut |m| got = Some(m)).expect("rest");
    assert_eq!(got, Some(Message::Binary(Bytes::from(payload))));
    assert_eq!(
        d.buffered_capacity(),
        0,
        "nothing kept once the frame is out"
    );
}

#[test]
fn fragmented_text_with_interleaved_ping() {
    let mut bytes = server_frame(OpCode::Data(Data::Text), false, b"hel");
    bytes.extend(server_frame(OpCode::Control(Control::Ping), true, b"p"));
    bytes.extend(server_frame(OpCode::Data(Data::Continue), false, b"lo "));
    bytes.extend(server_frame(OpCode::Data(Data::Continue), true, b"world"));
    let mut d = Decoder::new(None);
    assert_eq!(
        decode_all(&mut d, &[&bytes]),
        Ok(vec![
            Message::Ping(Bytes::from_static(b"p")),
            text("hello world")
        ])
    );
}

#[test]
fn utf8_is_checked_on_the_whole_message_not_per_fragment() {
    // "é" = C3 A9 split across two fragments: valid as a message.
    let mut bytes = server_frame(OpCode::Data(Data::Text), false, &[0xC3]);
    bytes.extend(server_frame(OpCode::Data(Data::Continue), true, &[0xA9]));
    let mut d = Decoder::new(None);
    assert_eq!(decode_all(&mut d, &[&bytes]), Ok(vec![text("é")]));
    let bad = server_frame(OpCode::Data(Data::Text), true, &[0xff, 0xfe]);
    assert_eq!(
        decode_all(&mut Decoder::new(None), &[&bad]),
        Err(DecodeError::Utf8)
    );
}

#[test]
fn protocol_violations() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0x81 | 0x40, 0x00], "reserved bits"),
        (vec![0x81, 0x80, 0, 0, 0, 0], "masked"),
        (vec![0x83, 0x00], "reserved opcode"),
        (vec![0x0B, 0x00], "reserved opcode"),
        (vec![0x09, 0x00], "fragmented control"),
        (
            {
                let mut v = vec![0x89, 126, 0, 126];
                v.extend(vec![0; 126]);
                v
            },
            "control frame",
        ),
        (vec![0x80, 0x00], "continuation frame without"),
        (vec![0x88, 0x01, 0x03], "1-byte payload"),
        (
            vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1],
            "most significant bit",
        ),
    ];
    for (bytes, want) in cases {
        match decode_all(&mut Decoder::new(None), &[&bytes]) {
            Err(DecodeError::Protocol(m)) => assert!(m.contains(want), "{m:?} vs {want:?}"),
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
    // A new data frame in the middle of a fragmented message.
    let mut bytes = server_frame(OpCode::Data(Data::Text), false, b"a");
    bytes.extend(server_frame(OpCode::Data(Data::Text), true, b"b"));
    assert!(matches!(
        decode_all(&mut Decoder::new(None), &[&bytes]),
        Err(DecodeError::Protocol(_))
    ));
}

#[test]
fn max_message_applies_to_frames_and_to_fragment_sums() {
    let f = server_frame(OpCode::Data(Data::Binary), true, &[0; 11]);
    assert_eq!(
        decode_all(&mut Decoder::new(Some(10)), &[&f]),
        Err(DecodeError::TooLarge { size: 11, max: 10 })
    );
    // Nothing is allocated for a frame that is refused by its header.
    let mut d = Decoder::new(Some(10));
    let huge = [0x82u8, 127, 0, 0, 0, 1, 0, 0, 0, 0];
    assert!(matches!(
        d.feed(&huge, &mut |_| {}),
        Err(DecodeError::TooLarge { .. })
    ));
    assert_eq!(d.buffered_capacity(), 0);
    let mut bytes = server_frame(OpCode::Data(Data::Binary), false, &[0; 6]);
    bytes.extend(server_frame(OpCode::Data(Data::Continue), true, &[0; 6]));
    assert_eq!(
        decode_all(&mut Decoder::new(Some(10)), &[&bytes]),
        Err(DecodeError::TooLarge { size: 12, max: 10 })
    );
}

#[test]
fn close_frames_report_what_the_server_sent() {
    let close = |payload: &[u8]| -> CloseFrame {
        let f = server_frame(OpCode::Control(Control::Close), true, payload);
        match decode_all(&mut Decoder::new(None), &[&f])
            .expect("decodes")
            .pop()
        {
            Some(Message::Close(c)) => c,
            other => panic!("{other:?}"),
        }
    };
    let ok = close(&[0x03, 0xE8, b'b', b'y', b'e']);
    assert_eq!(
        (ok.code, ok.reason.as_str(), ok.violation),
        (Some(1000), "bye", None)
    );
    let empty = close(&[]);
    assert_eq!((empty.code, empty.violation), (None, None));
    for code in [999u16, 1004, 1005, 1006, 1015, 2999, 5000] {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(b"r");
        let c = close(&p);
        assert_eq!(c.code, Some(code));
        assert_eq!(c.reason, "r");
        assert!(c
            .violation
            .as_deref()
            .unwrap_or("")
            .contains(&code.to_string()));
    }
    for code in [1000u16, 1001, 1011, 1012, 1013, 1014, 3000, 4000, 4999] {
        assert!(close(&code.to_be_bytes()).violation.is_none(), "{code}");
    }
    let bad_reason = close(&[0x03, 0xE8, 0xff]);
    assert_eq!(bad_reason.code, Some(1000));
    assert!(bad_reason.violation.is_some());
}

#[test]
fn client_frames_decode_with_tungstenite() {
    for len in [0usize, 5, 125, 126, 1000, 65535, 65536, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = Vec::new();
        encode_frame(OP_TEXT, &payload, mask, &mut out);
        assert_eq!(out.len(), header_len(len) + len);
        let mut cur = Cursor::new(&out[..]);
        let (head, n) = FrameHeader::parse(&mut cur)
            .expect("parse")
            .expect("complete");
        assert_eq!(n, len as u64);
        assert_eq!(head.mask, Some(mask));
        assert!(head.is_final);
        assert_eq!(head.opcode, OpCode::Data(Data::Text));
        let mut body = out[cur.position() as usize..].to_vec();
        apply_mask(&mut body, mask);
        assert_eq!(body, payload);
    }
}

#[test]
fn close_payload_cuts_the_reason_on_a_char_boundary() {
    let reason = "é".repeat(100); // 200 bytes
    let p = close_payload(1000, &reason);
    assert!(p.len() <= 125);
    assert!(std::str::from_utf8(&p[2..]).is_ok());
    assert_eq!(&p[..2], &[0x03, 0xE8]);
}

/// A message the server may send, and how it is framed.
#[derive(Debug, Clone)]
enum Sent {
    Data {
        text: bool,
        payload: Vec<u8>,
        splits: Vec<usize>,
    },
    Ping(Vec<u8>),
}

fn sent_strategy() -> impl Strategy<Value = Sent> {
    prop_oneof![
        (
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..3000),
            prop::collection::vec(0usize..3000, 0..4)
        )
            .prop_map(|(text, payload, splits)| {
                // Text payloads must be UTF-8 as a whole; use the lossy form.
                let payload = if text {
                    String::from_utf8_lossy(&payload).into_owned().into_bytes()
                } else {
                    payload
                };
                Sent::Data {
                    text,
                    payload,
                    splits,
                }
            }),
        prop::collection::vec(any::<u8>(), 0..125).prop_map(Sent::Ping),
    ]
}

fn frames_of(sent: &[Sent]) -> (Vec<u8>, Vec<Message>) {
    let mut bytes = Vec::new();
    let mut want = Vec::new();
    for s in sent {
        match s {
            Sent::Ping(p) => {
                bytes.extend(server_frame(OpCode::Control(Control::Ping), true, p));
                want.push(Message::Ping(Bytes::copy_from_slice(p)));
            }
            Sent::Data {
                text,
                payload,
                splits,
            } => {
                let mut cuts: Vec<usize> = splits.iter().map(|s| s % (payload.len() + 1)).collect();
                cuts.sort_unstable();
                cuts.dedup();
                let mut pieces = Vec::new();
                let mut prev = 0;
                for c in cuts {
                    pieces.push(&payload[prev..c]);
                    prev = c;
                }
                pieces.push(&payload[prev..]);
                let n = pieces.len();
                for (i, piece) in pieces.into_iter().enumerate() {
                    let op = if i > 0 {
                        OpCode::Data(Data::Continue)
                    } else if *text {
                        OpCode::Data(Data::Text)
                    } else {
                        OpCode::Data(Data::Binary)
                    };
                    bytes.extend(server_frame(op, i + 1 == n, piece));
                }
                want.push(if *text {
                    Message::Text(Text::new(Bytes::copy_from_slice(payload)).expect("utf8"))
                } else {
                    Message::Binary(Bytes::copy_from_slice(payload))
                });
            }
        }
    }
    (bytes, want)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: crate::test_support::proptest_cases(256),
        ..ProptestConfig::default()
    })]

    /// Any sequence of messages, any fragmentation, any chunking of the byte
    /// stream: the same messages come out, in order, and nothing stays buffered.
    #[test]
    fn any_chunking_gives_the_same_messages(
        sent in prop::collection::vec(sent_strategy(), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let (bytes, want) = frames_of(&sent);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut d = Decoder::new(None);
        let mut got = Vec::new();
        let mut prev = 0;
        for c in cuts.into_iter().chain(std::iter::once(bytes.len())) {
            d.feed(&bytes[prev..c], &mut |m| got.push(m)).expect("valid stream");
            prev = c;
        }
        prop_assert_eq!(got, want);
        prop_assert!(d.is_idle());
    }

    /// Arbitrary bytes never panic: they decode, wait for more, or fail cleanly.
    #[test]
    fn arbitrary_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..512),
        max in prop::option::of(0usize..1024),
    ) {
        let mut d = Decoder::new(max);
        let _ = d.feed(&data, &mut |_| {});
    }

    /// Masking twice is the identity, for any length and alignment.
    #[test]
    fn mask_round_trips(data in prop::collection::vec(any::<u8>(), 0..100), mask in any::<[u8; 4]>()) {
        let mut buf = data.clone();
        apply_mask(&mut buf, mask);
        for (i, (a, b)) in buf.iter().zip(&data).enumerate() {
            prop_assert_eq!(*a, b ^ mask[i % 4]);
        }
        apply_mask(&mut buf, mask);
        prop_assert_eq!(buf, data);
    }
}
