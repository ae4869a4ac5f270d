//! The Python exceptions the core raises, held once.
//!
//! The hierarchy is declared in `python/realtime_ws/errors.py` (so each class
//! can also subclass the matching built-in: `ConnectionError`, `ValueError`,
//! `TypeError`...). The core imports that module once, when `_core` is
//! initialised, and keeps each class; `impl From<CoreError> for PyErr` maps
//! every error kind to its class. There is no lookup by name at raise time and
//! no fallback: if the module cannot be imported, importing `_core` fails.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::error::{CoreError, ErrorKind};

struct Classes {
    user: Py<PyType>,
    value: Py<PyType>,
    type_: Py<PyType>,
    invalid_audio: Py<PyType>,
    not_connected: Py<PyType>,
    internal: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn load(py: Python<'_>) -> PyResult<Classes> {
    let m = py.import("realtime_ws.errors")?;
    let get = |name: &str| -> PyResult<Py<PyType>> {
        Ok(m.getattr(name)?.cast_into::<PyType>()?.unbind())
    };
    Ok(Classes {
        user: get("UserError")?,
        value: get("InvalidArgumentError")?,
        type_: get("ArgumentTypeError")?,
        invalid_audio: get("InvalidAudioError")?,
        not_connected: get("NotConnectedError")?,
        internal: get("InternalError")?,
    })
}

fn classes(py: Python<'_>) -> PyResult<&'static Classes> {
    CLASSES.get_or_try_init(py, || load(py))
}

/// Loads the classes; called from the module's init so a broken install
/// fails at import instead of at the first error.
pub fn init(py: Python<'_>) -> PyResult<()> {
    classes(py).map(|_| ())
}

impl From<CoreError> for PyErr {
    fn from(e: CoreError) -> PyErr {
        Python::attach(|py| match classes(py) {
            Ok(c) => {
                let cls = match e.kind {
                    ErrorKind::User => &c.user,
                    ErrorKind::Value => &c.value,
                    ErrorKind::Type => &c.type_,
                    ErrorKind::InvalidAudio => &c.invalid_audio,
                    ErrorKind::NotConnected => &c.not_connected,
                    ErrorKind::Internal => &c.internal,
                };
                PyErr::from_type(cls.bind(py).clone(), e.message)
            }
            Err(import_error) => import_error,
        })
    }
}

/// `Result` of the bindings' helpers that raise the package's errors.
pub type CoreResult<T> = Result<T, CoreError>;

/// Name of a Python object's type, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}
