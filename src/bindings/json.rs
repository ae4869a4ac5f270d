//! JSON <-> Python without going through Python's `json` module: server
//! events become fresh dicts straight from `serde_json::Value`, and client
//! events are serialised from dicts straight into the frame text.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::Value;

use super::errors::type_name;
use crate::error::CoreError;

pub fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(PyString::intern(py, k), value_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

fn escape_into(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{:04x}", b)),
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

const MAX_DEPTH: usize = 128;

/// Serialises `obj` as JSON into `out`. Accepts dict (str keys), list, tuple,
/// str, int, float (finite), bool, None, and pydantic models (via
/// `model_dump(mode="json", exclude_unset=True)`, so the `openai` SDK's event
/// models can be sent as they are).
pub fn write_json(obj: &Bound<'_, PyAny>, out: &mut String, depth: usize) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(CoreError::value("event nests deeper than 128 levels").into());
    }
    if obj.is_none() {
        out.push_str("null");
    } else if let Ok(s) = obj.cast::<PyString>() {
        escape_into(s.to_str()?, out);
    } else if obj.is_instance_of::<PyBool>() {
        out.push_str(if obj.is_truthy()? { "true" } else { "false" });
    } else if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            out.push_str(itoa_i64(i).as_str());
        } else {
            // Arbitrary precision: Python's own decimal text is valid JSON.
            out.push_str(obj.str()?.to_str()?);
        }
    } else if obj.is_instance_of::<PyFloat>() {
        let f: f64 = obj.extract()?;
        if !f.is_finite() {
            return Err(CoreError::value(format!("{f} is not valid JSON")).into());
        }
        out.push_str(
            &serde_json::Number::from_f64(f)
                .map(|n| n.to_string())
                .unwrap_or_else(|| "null".into()),
        );
    } else if let Ok(d) = obj.cast::<PyDict>() {
        out.push('{');
        let mut first = true;
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                PyErr::from(CoreError::type_error(format!(
                    "event keys must be str, got {}",
                    type_name(&k)
                )))
            })?;
            if !first {
                out.push(',');
            }
            first = false;
            escape_into(key.to_str()?, out);
            out.push(':');
            write_json(&v, out, depth + 1)?;
        }
        out.push('}');
    } else if let Ok(l) = obj.cast::<PyList>() {
        out.push('[');
        for (i, v) in l.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json(&v, out, depth + 1)?;
        }
        out.push(']');
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        out.push('[');
        for (i, v) in t.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json(&v, out, depth + 1)?;
        }
        out.push(']');
    } else if obj.hasattr("model_dump")? {
        let kwargs = PyDict::new(obj.py());
        kwargs.set_item("mode", "json")?;
        kwargs.set_item("exclude_unset", true)?;
        let dumped = obj.call_method("model_dump", (), Some(&kwargs))?;
        write_json(&dumped, out, depth + 1)?;
    } else {
        return Err(CoreError::type_error(format!(
            "object of type {} is not JSON serializable",
            type_name(obj)
        ))
        .into());
    }
    Ok(())
}

fn itoa_i64(i: i64) -> String {
    i.to_string()
}

/// Parses JSON text into Python objects.
pub fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| CoreError::value(format!("invalid JSON: {e}")))?;
    value_to_py(py, &v)
}

/// Serialises `obj` to JSON text.
pub fn dumps(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut s = String::with_capacity(128);
    write_json(obj, &mut s, 0)?;
    Ok(s)
}
