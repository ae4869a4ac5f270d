//! RFC 6455 framing for the client role, sans I/O: bytes in, messages out;
//! messages in, masked frames out. No sockets, no tokio.
//!
//! Why our own codec instead of tungstenite's: the socket task, the direct
//! write path and the memory of an idle session all depend on who owns the
//! buffers. Here an idle connection holds no read buffer at all (a partial
//! frame is the only thing kept between reads), a large frame is received
//! into one allocation of its exact size and handed on without another copy,
//! and a close frame with an invalid code is reported as what the server sent
//! rather than folded into a generic protocol error.

use bytes::Bytes;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Largest header of a client frame: 2 + 8 (length) + 4 (mask).
pub const MAX_HEADER: usize = 14;

/// A text payload whose UTF-8 was checked once, when the message completed.
#[derive(Clone, PartialEq, Eq)]
pub struct Text(Bytes);

impl Text {
    /// Checks `bytes` and wraps them.
    pub fn new(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Text(bytes))
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes were validated in `Text::new` and `Bytes` is immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Bytes::from(s.into_bytes()))
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The close frame the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// `None` for an empty close payload (RFC 6455's 1005, "no status").
    pub code: Option<u16>,
    pub reason: String,
    /// Why the frame itself broke the protocol (a code that may not be sent
    /// on the wire, a reason that is not UTF-8). The code and reason are
    /// still what the peer sent, so they can be reported as such.
    pub violation: Option<String>,
}

/// One complete message or control frame from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(Text),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    Close(CloseFrame),
}

/// Why the byte stream cannot be decoded any further. The connection must
/// be failed (close code 1002, or 1009 for `TooLarge`, 1007 for `Utf8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Protocol(String),
    TooLarge { size: u64, max: usize },
    Utf8,
}

impl DecodeError {
    /// The close code to send when failing the connection for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            DecodeError::Protocol(_) => 1002,
            DecodeError::TooLarge { .. } => 1009,
            DecodeError::Utf8 => 1007,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Protocol(m) => write!(f, "WebSocket protocol error: {m}"),
            DecodeError::TooLarge { size, max } => write!(
                f,
                "server message of {size} bytes is larger than max_message_size ({max} bytes)"
            ),
            DecodeError::Utf8 => f.write_str("server sent a text message that is not valid UTF-8"),
        }
    }
}

/// True for the close codes a peer may put on the wire (RFC 6455 7.4 and the
/// IANA registry): 1000-1003, 1007-1014 and the application range 3000-4999.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[derive(Debug, Clone, Copy)]
struct Head {
    fin: bool,
    opcode: u8,
    len: usize,
}

/// Where the decoder is inside the current frame.
#[derive(Debug)]
enum State {
    /// Between frames, or inside a header split across reads (`have` bytes of it in `buf`).
    Header { buf: [u8; MAX_HEADER], have: usize },
    /// Inside a payload split across reads: `data` has the exact capacity of the payload.
    Payload { head: Head, data: Vec<u8> },
}

/// A message being reassembled from continuation frames.
#[derive(Debug)]
struct Fragments {
    opcode: u8,
    data: Vec<u8>,
}

/// Incremental decoder of server frames.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    state: State,
    fragments: Option<Fragments>,
}

/// Parses a frame header from `b`; `Ok(None)` if `b` is too short.
fn parse_head(b: &[u8], max: usize) -> Result<Option<(Head, usize)>, DecodeError> {
    if b.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (b[0], b[1]);
    if b0 & 0x70 != 0 {
        return Err(DecodeError::Protocol(
            "reserved bits set (no extension was negotiated)".into(),
        ));
    }
    if b1 & 0x80 != 0 {
        return Err(DecodeError::Protocol(
            "the server sent a masked frame".into(),
        ));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0f;
    let (len, head_len) = match b1 & 0x7f {
        126 => {
            if b.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([b[2], b[3]])), 4)
        }
        127 => {
            if b.len() < 10 {
                return Ok(None);
            }
            let mut n = [0u8; 8];
            n.copy_from_slice(&b[2..10]);
            let len = u64::from_be_bytes(n);
            if len >> 63 != 0 {
                return Err(DecodeError::Protocol(
                    "frame length has its most significant bit set".into(),
                ));
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    };
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG => {
            if !fin {
                return Err(DecodeError::Protocol("fragmented control frame".into()));
            }
            if len > 125 {
                return Err(DecodeError::Protocol(format!(
                    "control frame with a {len}-byte payload (at most 125)"
                )));
            }
        }
        other => return Err(DecodeError::Protocol(format!("reserved opcode {other:#x}"))),
    }
    if len > max as u64 {
        return Err(DecodeError::TooLarge { size: len, max });
    }
    Ok(Some((
        Head {
            fin,
            opcode,
            len: len as usize,
        },
        head_len,
    )))
}

fn parse_close(payload: &[u8]) -> Result<CloseFrame, DecodeError> {
    match payload.len() {
        0 => Ok(CloseFrame {
            code: None,
            reason: String::new(),
            violation: None,
        }),
        1 => Err(DecodeError::Protocol(
            "close frame with a 1-byte payload".into(),
        )),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let (reason, bad_reason) = match std::str::from_utf8(&payload[2..]) {
                Ok(s) => (s.to_owned(), false),
                Err(_) => (String::from_utf8_lossy(&payload[2..]).into_owned(), true),
            };
            let violation = if !is_valid_close_code(code) {
                Some(format!(
                    "the server sent close code {code}, which may not be sent on the wire"
                ))
            } else if bad_reason {
                Some("the server sent a close reason that is not valid UTF-8".to_owned())
            } else {
                None
            };
            Ok(CloseFrame {
                code: Some(code),
                reason,
                violation,
            })
        }
    }
}

impl Decoder {
    /// `max_message`: the largest message (all fragments together) accepted.
    pub fn new(max_message: Option<usize>) -> Self {
        Decoder {
            max_message: max_message.unwrap_or(usize::MAX),
            state: State::Header {
                buf: [0; MAX_HEADER],
                have: 0,
            },
            fragments: None,
        }
    }

    /// True when nothing is buffered (no partial frame, no partial message).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header { have: 0, .. }) && self.fragments.is_none()
    }

    /// Bytes held for incomplete frames and messages (capacity, not length).
    pub fn buffered_capacity(&self) -> usize {
        let frame = match &self.state {
            State::Payload { data, .. } => data.capacity(),
            State::Header { .. } => 0,
        };
        frame + self.fragments.as_ref().map_or(0, |f| f.data.capacity())
    }

    /// Decodes everything in `data`, calling `on_message` for each complete
    /// message or control frame, in order. After an error the decoder must
    /// not be used again.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        on_message: &mut dyn FnMut(Message),
    ) -> Result<(), DecodeError> {
        while !data.is_empty() {
            match &mut self.state {
                State::Header { buf, have } => {
                    let (head, head_len, used) = if *have == 0 {
                        // Fast path: the header is whole in `data`.
                        match parse_head(data, self.max_message)? {
                            Some((head, n)) => (head, n, n),
                            None => {
                                buf[..data.len()].copy_from_slice(data);
                                *have = data.len();
                                return Ok(());
                            }
                        }
                    } else {
                        let take = (MAX_HEADER - *have).min(data.len());
                        buf[*have..*have + take].copy_from_slice(&data[..take]);
                        let avail = *have + take;
                        match parse_head(&buf[..avail], self.max_message)? {
                            Some((head, n)) => {
                                let used = n - *have;
                                *have = 0;
                                (head, n, used)
                            }
                            None => {
                                *have = avail;
                                return Ok(());
                            }
                        }
                    };
                    let _ = head_len;
                    data = &data[used..];
                    if data.len() >= head.len {
                        // The whole payload is here: one copy into an owned buffer.
                        let payload = Bytes::copy_from_slice(&data[..head.len]);
                        data = &data[head.len..];
                        self.frame(head, payload, on_message)?;
                    } else {
                        let mut buf = Vec::with_capacity(head.len);
                        buf.extend_from_slice(data);
                        data = &[];
                        self.state = State::Payload { head, data: buf };
                    }
                }
                State::Payload { head, data: buf } => {
                    let need = head.len - buf.len();
                    let take = need.min(data.len());
                    buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if buf.len() == head.len {
                        let head = *head;
                        let payload = Bytes::from(std::mem::take(buf));
                        self.state = State::Header {
                            buf: [0; MAX_HEADER],
                            have: 0,
                        };
                        self.frame(head, payload, on_message)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn frame(
        &mut self,
        head: Head,
        payload: Bytes,
        on_message: &mut dyn FnMut(Message),
    ) -> Result<(), DecodeError> {
        match head.opcode {
            OP_PING => on_message(Message::Ping(payload)),
            OP_PONG => on_message(Message::Pong(payload)),
            OP_CLOSE => on_message(Message::Close(parse_close(&payload)?)),
            OP_TEXT | OP_BINARY => {
                if self.fragments.is_some() {
                    return Err(DecodeError::Protocol(
                        "new data frame while a fragmented message is incomplete".into(),
                    ));
                }
                if head.fin {
                    on_message(message(head.opcode, payload)?);
                } else {
                    self.fragments = Some(Fragments {
                        opcode: head.opcode,
                        data: Vec::from(payload),
                    });
                }
            }
            _ => {
                // OP_CONTINUATION (parse_head rejected every other opcode).
                let Some(frag) = self.fragments.as_mut() else {
                    return Err(DecodeError::Protocol(
                        "continuation frame without a message to continue".into(),
                    ));
                };
                let size = frag.data.len() as u64 + payload.len() as u64;
                if size > self.max_message as u64 {
                    return Err(DecodeError::TooLarge {
                        size,
                        max: self.max_message,
                    });
                }
                frag.data.extend_from_slice(&payload);
                if head.fin {
                    if let Some(frag) = self.fragments.take() {
                        on_message(message(frag.opcode, Bytes::from(frag.data))?);
                    }
                }
            }
        }
        Ok(())
    }
}

fn message(opcode: u8, payload: Bytes) -> Result<Message, DecodeError> {
    if opcode == OP_TEXT {
        Text::new(payload)
            .map(Message::Text)
            .map_err(|_| DecodeError::Utf8)
    } else {
        Ok(Message::Binary(payload))
    }
}

/// Length of the header of a masked client frame with `payload_len` bytes.
pub fn header_len(payload_len: usize) -> usize {
    match payload_len {
        0..=125 => 6,
        126..=65535 => 8,
        _ => 14,
    }
}

/// Writes the header of a final, masked client frame into `out`.
pub fn write_header(opcode: u8, payload_len: usize, mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match payload_len {
        0..=125 => out.push(0x80 | payload_len as u8),
        126..=65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(payload_len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
}

/// XORs `buf` with the repeating 4-byte `mask`, word by word.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Appends one complete masked client frame (`opcode`, `payload`) to `out`.
pub fn encode_frame(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.reserve(header_len(payload.len()) + payload.len());
    write_header(opcode, payload.len(), mask, out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// The payload of a close frame: the code and a reason cut to fit 125 bytes
/// (on a character boundary).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut p = Vec::with_capacity(2 + end);
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(&reason.as_bytes()[..end]);
    p
}

#[cfg(test)]
mod tests;
