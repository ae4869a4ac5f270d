//! `_core.Hub`: the Python handle of one loop's event queue
//! (`crate::delivery`): `fileno()` for `loop.add_reader`, and `drain()`, which
//! turns the whole batch into Python objects under one GIL acquisition.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use pyo3::IntoPyObjectExt;

use super::events::{
    AudioEvent, AudioInterruptedEvent, ConnectFailed, CoreNotice, ServerEvent, SocketClosed,
    SocketOpened,
};
use crate::connection::ConnectErrorKind;
use crate::delivery::{CoreEvent, EventQueue, WakeKind};
use crate::error::CoreError;
use crate::session::Event;

#[pyclass(frozen, module = "realtime_ws._core", name = "Hub")]
pub struct Hub {
    pub queue: Arc<EventQueue>,
}

fn kind_name(kind: ConnectErrorKind) -> &'static str {
    match kind {
        ConnectErrorKind::InvalidUrl => "invalid_url",
        ConnectErrorKind::InvalidHeader => "invalid_header",
        ConnectErrorKind::Timeout => "timeout",
        ConnectErrorKind::Io => "io",
        ConnectErrorKind::Tls => "tls",
        ConnectErrorKind::Proxy => "proxy",
        ConnectErrorKind::HttpStatus(_) => "http_status",
        ConnectErrorKind::Handshake => "handshake",
        ConnectErrorKind::ClosedBeforeReady => "closed_before_ready",
    }
}

/// Appends the Python object(s) of one core event to `out`.
fn convert(py: Python<'_>, conn_id: u64, ev: CoreEvent, out: &Bound<'_, PyList>) -> PyResult<()> {
    let id = conn_id.into_bound_py_any(py)?;
    let push = |obj: Bound<'_, PyAny>| out.append(PyTuple::new(py, [id.clone(), obj])?);
    match ev {
        CoreEvent::Opened { subprotocol } => {
            push(Bound::new(py, SocketOpened { subprotocol })?.into_any())
        }
        CoreEvent::ConnectFailed(e) => {
            let status = match e.kind {
                ConnectErrorKind::HttpStatus(s) => Some(s),
                _ => None,
            };
            push(
                Bound::new(
                    py,
                    ConnectFailed {
                        kind: kind_name(e.kind),
                        message: e.message,
                        status,
                    },
                )?
                .into_any(),
            )
        }
        CoreEvent::Closed(end) => push(
            Bound::new(
                py,
                SocketClosed {
                    code: end.code,
                    reason: end.reason,
                    error: end.error,
                },
            )?
            .into_any(),
        ),
        CoreEvent::Session(Event::Server(s)) => {
            push(Bound::new(py, ServerEvent::from(s))?.into_any())
        }
        CoreEvent::Session(Event::Audio(a)) => {
            if let Some(raw) = a.raw {
                push(Bound::new(py, ServerEvent::from(raw))?.into_any())?;
            }
            push(
                Bound::new(
                    py,
                    AudioEvent {
                        data: PyBytes::new(py, &a.data).unbind(),
                        event_id: a.event_id,
                        response_id: a.response_id,
                        item_id: a.item_id,
                        content_index: a.content_index,
                    },
                )?
                .into_any(),
            )
        }
        CoreEvent::Session(Event::Interrupted(i)) => {
            push(Bound::new(py, AudioInterruptedEvent::from(i))?.into_any())
        }
        CoreEvent::Session(Event::FrameError(message)) => push(
            Bound::new(
                py,
                CoreNotice {
                    source: "protocol",
                    message,
                },
            )?
            .into_any(),
        ),
        CoreEvent::Session(Event::AudioDropped(message)) => push(
            Bound::new(
                py,
                CoreNotice {
                    source: "audio",
                    message,
                },
            )?
            .into_any(),
        ),
    }
}

#[pymethods]
impl Hub {
    /// `wake`: `"auto"` (eventfd on Linux, a pipe elsewhere; `REALTIME_WS_WAKE=pipe`
    /// forces the pipe) or `"pipe"`.
    #[new]
    #[pyo3(signature = (wake = "auto"))]
    fn new(wake: &str) -> PyResult<Self> {
        let kind = match wake {
            "auto" => WakeKind::from_env(),
            "pipe" => WakeKind::Pipe,
            other => {
                return Err(CoreError::value(format!(
                    "wake must be 'auto' or 'pipe', got {other:?}"
                ))
                .into())
            }
        };
        let queue = EventQueue::new(kind)
            .map_err(|e| CoreError::internal(format!("cannot create the wake-up fd: {e}")))?;
        let queue = Arc::new(queue);
        crate::logbridge::bridge().register(&queue);
        Ok(Hub { queue })
    }

    /// The fd to watch with `loop.add_reader`.
    fn fileno(&self) -> i32 {
        self.queue.fileno()
    }

    /// `"eventfd"` or `"pipe"`.
    #[getter]
    fn wake(&self) -> &'static str {
        match self.queue.kind() {
            WakeKind::EventFd => "eventfd",
            WakeKind::Pipe => "pipe",
        }
    }

    /// Takes every queued event: a list of `(conn_id, event)`. Buffered Rust
    /// log records come last, as `(0, (records, dropped))` (`take_logs`).
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self.queue.take();
        let out = PyList::empty(py);
        for item in items {
            let (id, ev) = item.into_event();
            convert(py, id, ev, &out)?;
        }
        if crate::logbridge::bridge().is_pending() {
            let logs = super::logs_tuple().into_pyobject(py)?;
            out.append((0u64, logs))?;
        }
        Ok(out)
    }

    /// Minimum time between wake-ups of the loop, in milliseconds (0 disables coalescing).
    #[getter]
    fn coalesce_ms(&self) -> f64 {
        self.queue.coalesce_us() as f64 / 1000.0
    }

    #[setter]
    fn set_coalesce_ms(&self, ms: f64) -> PyResult<()> {
        if !(0.0..=100.0).contains(&ms) {
            return Err(CoreError::value(format!(
                "coalesce_ms must be between 0 and 100, got {ms}"
            ))
            .into());
        }
        self.queue.set_coalesce_us((ms * 1000.0) as u64);
        Ok(())
    }

    /// Number of queued events (for tests and diagnostics).
    fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Wake-ups written so far (for tests and diagnostics).
    #[getter]
    fn wakes(&self) -> u64 {
        self.queue.wakes()
    }
}
