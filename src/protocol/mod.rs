//! The Realtime wire protocol: server-event classification, client-event
//! builders and the response.create sequencer. Pure Rust (no pyo3).

pub mod client;
mod known_beta;
mod known_ga;
pub mod sequencer;
pub mod server;

/// JSON kind of a required field in a known server event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Str,
    Int,
    Num,
    Bool,
    Obj,
    Arr,
    /// Present with any value, `null` included (zod's required `z.any()`).
    Present,
    /// Present and not `null`.
    Any,
}

impl JsonKind {
    pub fn matches(self, v: &serde_json::Value) -> bool {
        use serde_json::Value;
        match self {
            JsonKind::Str => v.is_string(),
            JsonKind::Int => v.is_i64() || v.is_u64(),
            JsonKind::Num => v.is_number(),
            JsonKind::Bool => v.is_boolean(),
            JsonKind::Obj => v.is_object(),
            JsonKind::Arr => v.is_array(),
            JsonKind::Present => true,
            JsonKind::Any => !matches!(v, Value::Null),
        }
    }
}

pub use known_beta::KNOWN_BETA_SERVER_EVENTS;
pub use known_ga::{KNOWN_SERVER_EVENTS, REFERENCE_VERSION};

/// Which event vocabulary the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// The GA API (the default).
    #[default]
    Ga,
    /// The beta API (`OpenAI-Beta: realtime=v1`), for servers that still speak it.
    Beta,
}
