//! The socket: connect (URL, headers, TLS, proxy, timeout), the WebSocket
//! handshake and framing (our own, sans-I/O: `handshake`, `codec`), the shared
//! write side (`socket`) and the one task per socket (`task`). No pyo3 here;
//! the bindings plug in through the `FrameSink` trait.

pub mod codec;
pub mod connect;
pub mod handshake;
pub mod net;
pub mod socket;
pub mod task;
pub mod tls;

pub use codec::{Message, Text};
pub use connect::{open, ConnectConfig, ConnectError, ConnectErrorKind, Connected};
pub use handshake::Redactor;
pub use socket::{SendError, Socket, WireStats};
pub use task::{run, FrameSink, SocketEnd, SocketOptions};
