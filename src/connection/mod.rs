//! The socket: connect (URL, headers, subprotocols, proxy, TLS, timeout), the
//! reader and writer tasks, keepalive and close. No pyo3 here; the bindings
//! plug in through the `FrameSink` trait.

pub mod connect;
pub mod net;
pub mod tasks;

pub use connect::{open, ConnectConfig, ConnectError, ConnectErrorKind};
pub use tasks::{spawn_session, FrameSink, Outgoing, SessionOptions, SocketEnd};
