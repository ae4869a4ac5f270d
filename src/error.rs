//! The core's error type. Each kind maps to exactly one Python exception
//! class of `realtime_ws.errors` (see `bindings/errors.rs`), every one a
//! `RealtimeError` and, where one fits, the matching built-in.

/// What went wrong, as the caller should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The API was used the wrong way (`UserError`).
    User,
    /// An argument has the right type but a bad value (`InvalidArgumentError`, a `ValueError`).
    Value,
    /// An argument has the wrong type (`ArgumentTypeError`, a `TypeError`).
    Type,
    /// Audio with the wrong type, dtype or length (`InvalidAudioError`, a `ValueError`).
    InvalidAudio,
    /// There is no socket to send on (`NotConnectedError`).
    NotConnected,
    /// Something broke inside the core (`InternalError`, a `RuntimeError`).
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CoreError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CoreError {
            kind,
            message: message.into(),
        }
    }
    pub fn user(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::User, message)
    }
    pub fn value(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Value, message)
    }
    pub fn type_error(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Type, message)
    }
    pub fn audio(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidAudio, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// The reference's message for sending without a socket.
    pub fn not_connected() -> Self {
        Self::new(
            ErrorKind::NotConnected,
            "WebSocket is not connected. Make sure you call `connect()` before sending events.",
        )
    }
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CoreError {}
