//! `_core.MockServer`: the Python handle of the mock Realtime server
//! (`crate::mock_server`). The public, documented wrapper is
//! `realtime_ws.testing.MockRealtimeServer`; this class is its engine.
//!
//! Bulk data (recorded events, stats, connection records) crosses the
//! boundary as JSON text, parsed by the wrapper: it is test-time data, and
//! one string per call keeps this layer independent of the dict builders.

use std::sync::{Arc, Once};

use parking_lot::Mutex;
use pyo3::prelude::*;
use serde_json::{json, Value};

use crate::error::CoreError;
use crate::mock_server::config::check_close_code;
use crate::mock_server::script::Script;
use crate::mock_server::server::Control;
use crate::mock_server::{MockConfig, MockServerHandle};

/// Makes `future_into_py` run on the crate's shared runtime (once; if
/// someone initialised pyo3-async-runtimes first, theirs is used as is).
fn init_async_runtime() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = pyo3_async_runtimes::tokio::init_with_runtime(crate::runtime::get());
    });
}

#[pyclass(module = "realtime_ws._core", name = "MockServer", frozen)]
pub struct MockServer {
    host: String,
    port: u16,
    config: Mutex<MockConfig>,
    handle: Arc<Mutex<Option<Arc<MockServerHandle>>>>,
}

impl MockServer {
    fn live(&self) -> PyResult<Arc<MockServerHandle>> {
        self.handle.lock().clone().ok_or_else(|| {
            PyErr::from(CoreError::user(
                "the mock server is not running; await start() first",
            ))
        })
    }
}

fn value_err(message: impl Into<String>) -> PyErr {
    CoreError::value(message).into()
}

fn control_err(e: String) -> PyErr {
    CoreError::value(e).into()
}

#[pymethods]
impl MockServer {
    /// `options_json`: the options as a JSON object (validated here).
    #[new]
    #[pyo3(signature = (host, port, options_json = "{}"))]
    fn new(host: String, port: u16, options_json: &str) -> PyResult<Self> {
        let config =
            MockConfig::from_json(options_json).map_err(|e| PyErr::from(CoreError::value(e)))?;
        Ok(MockServer {
            host,
            port,
            config: Mutex::new(config),
            handle: Arc::new(Mutex::new(None)),
        })
    }

    /// The option table (name, type, nullable, group, doc, default) as JSON:
    /// what the Python wrapper checks, documents and offers on its command line.
    #[staticmethod]
    fn options_json() -> String {
        crate::mock_server::config::options_json()
    }

    /// Binds and starts serving; resolves to the bound port.
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        init_async_runtime();
        if self.handle.lock().is_some() {
            return Err(PyErr::from(CoreError::user(
                "the mock server is already running",
            )));
        }
        let (host, port, slot) = (self.host.clone(), self.port, self.handle.clone());
        let config = self.config.lock().clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let handle = MockServerHandle::start(&host, port, config)
                .await
                .map_err(|e| {
                    PyErr::from(CoreError::value(format!(
                        "cannot start the mock server: {e}"
                    )))
                })?;
            let bound = handle.local_addr().port();
            let mut guard = slot.lock();
            if guard.is_some() {
                return Err(PyErr::from(CoreError::user(
                    "the mock server is already running",
                )));
            }
            *guard = Some(Arc::new(handle));
            Ok(bound)
        })
    }

    /// Closes every connection (1001) and the listener, blocking (the GIL is
    /// released meanwhile). There is no awaitable variant: the wrapper runs
    /// this in an executor thread, because a `future_into_py`
    /// completion is delivered by a tokio blocking thread that is still
    /// inside `call_soon_threadsafe` when the loop sees the result, and if
    /// the interpreter finalises right then (a script ending with
    /// `await server.stop()`), CPython `pthread_exit()`s that Rust thread
    /// and the process aborts. An executor thread is a Python thread, which
    /// shutdown joins properly.
    fn stop_blocking(&self, py: Python<'_>) {
        let handle = self.handle.lock().take();
        if let Some(h) = handle {
            py.detach(|| crate::runtime::get().block_on(h.stop()));
        }
    }

    /// The bound port, or None before `start()`.
    #[getter]
    fn port(&self) -> Option<u16> {
        self.handle.lock().as_ref().map(|h| h.local_addr().port())
    }

    #[getter]
    fn host(&self) -> String {
        self.host.clone()
    }

    #[getter]
    fn running(&self) -> bool {
        self.handle.lock().is_some()
    }

    /// A JSON array: one object per handshake.
    fn connections_json(&self) -> String {
        let Some(h) = self.handle.lock().clone() else {
            return "[]".into();
        };
        let list: Vec<Value> = h
            .connections()
            .into_iter()
            .map(|c| {
                let mut headers = serde_json::Map::new();
                for (k, v) in &c.info.headers {
                    // Repeated headers are joined as HTTP allows.
                    let joined = match headers.get(k).and_then(Value::as_str) {
                        Some(prev) => format!("{prev}, {v}"),
                        None => v.clone(),
                    };
                    headers.insert(k.clone(), Value::String(joined));
                }
                let query: serde_json::Map<String, Value> = c
                    .info
                    .query
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                json!({
                    "id": c.id,
                    "path": c.info.path,
                    "query": query,
                    "headers": headers,
                    "subprotocols": c.info.subprotocols,
                    "selected_subprotocol": c.info.selected_subprotocol,
                    "open": c.status.open,
                    "http_status": c.status.http_status,
                    "close_code": c.status.close_code,
                    "close_reason": c.status.close_reason,
                    "closed_by": c.status.closed_by,
                    "peer": c.info.peer,
                    "connected_at": c.info.connected_at_unix_s,
                })
            })
            .collect();
        Value::Array(list).to_string()
    }

    #[pyo3(signature = (conn = None, event_type = None))]
    fn received_json(&self, conn: Option<usize>, event_type: Option<&str>) -> PyResult<String> {
        match self.handle.lock().clone() {
            Some(h) => h
                .received_json(conn, event_type)
                .map_err(|e| PyErr::from(CoreError::value(e))),
            None => Ok("[]".into()),
        }
    }

    #[pyo3(signature = (conn = None, event_type = None))]
    fn received_count(&self, conn: Option<usize>, event_type: Option<&str>) -> PyResult<usize> {
        match self.handle.lock().clone() {
            Some(h) => h
                .received_count(conn, event_type)
                .map_err(|e| PyErr::from(CoreError::value(e))),
            None => Ok(0),
        }
    }

    #[pyo3(signature = (conn = None))]
    fn sent_json(&self, conn: Option<usize>) -> PyResult<String> {
        match self.handle.lock().clone() {
            Some(h) => h
                .sent_json(conn)
                .map_err(|e| PyErr::from(CoreError::value(e))),
            None => Ok("[]".into()),
        }
    }

    #[pyo3(signature = (text, conn = None))]
    fn send_text(&self, text: String, conn: Option<usize>) -> PyResult<()> {
        self.live()?
            .control(conn, Control::Text(text))
            .map_err(control_err)
    }

    #[pyo3(signature = (data, conn = None))]
    fn send_binary(&self, data: Vec<u8>, conn: Option<usize>) -> PyResult<()> {
        self.live()?
            .control(conn, Control::Binary(data))
            .map_err(control_err)
    }

    #[pyo3(signature = (code = 1000, reason = "", conn = None))]
    fn close_connection(&self, code: u16, reason: &str, conn: Option<usize>) -> PyResult<()> {
        check_close_code(code).map_err(|e| PyErr::from(CoreError::value(e)))?;
        if reason.len() > 123 {
            return Err(value_err("a close reason is at most 123 bytes of UTF-8"));
        }
        self.live()?
            .control(
                conn,
                Control::Close {
                    code,
                    reason: reason.to_owned(),
                },
            )
            .map_err(control_err)
    }

    #[pyo3(signature = (conn = None))]
    fn drop_connection(&self, conn: Option<usize>) -> PyResult<()> {
        self.live()?
            .control(conn, Control::Drop)
            .map_err(control_err)
    }

    #[pyo3(signature = (conn = None))]
    fn freeze(&self, conn: Option<usize>) -> PyResult<()> {
        self.live()?
            .control(conn, Control::Freeze)
            .map_err(control_err)
    }

    /// Replaces the scripted responses (a JSON array).
    fn set_responses_json(&self, responses_json: &str) -> PyResult<()> {
        let list: Vec<Value> = serde_json::from_str(responses_json)
            .map_err(|e| value_err(format!("responses must be a JSON array: {e}")))?;
        let scripts = list
            .iter()
            .enumerate()
            .map(|(i, v)| Script::from_value(v).map_err(|e| format!("responses[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PyErr::from(CoreError::value(e)))?;
        match self.handle.lock().clone() {
            Some(h) => h.set_responses(scripts),
            // Not started yet: they become the initial queue.
            None => self.config.lock().responses = scripts,
        }
        Ok(())
    }

    fn stats_json(&self) -> String {
        match self.handle.lock().clone() {
            Some(h) => h.stats_json(),
            None => "{}".into(),
        }
    }

    fn __repr__(&self) -> String {
        match self.port() {
            Some(p) => format!("<MockServer ws://{}:{p}/v1/realtime>", self.host),
            None => format!("<MockServer {} (not running)>", self.host),
        }
    }
}
