//! Borrowing audio from any object with the buffer protocol (bytes,
//! bytearray, memoryview, numpy arrays) without copying it.

use std::ffi::CStr;
use std::mem::MaybeUninit;

use pyo3::ffi;
use pyo3::prelude::*;

use super::errors::invalid_audio;

/// Element type of an audio buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// bytes-like (format B/b/c): raw bytes.
    U8,
    /// int16 (format h), native little-endian.
    I16,
    /// float32 (format f), native little-endian.
    F32,
}

/// A held `Py_buffer`, released on drop. Only built and dropped while attached.
pub struct BufferView {
    view: Box<ffi::Py_buffer>,
    pub elem: Elem,
}

// The view is only touched while attached to the interpreter.
unsafe impl Send for BufferView {}

impl BufferView {
    pub fn bytes(&self) -> &[u8] {
        let len = self.view.len.max(0) as usize;
        if len == 0 || self.view.buf.is_null() {
            return &[];
        }
        // SAFETY: the exporter guarantees `len` readable bytes at `buf` while the view is held;
        // we requested a C-contiguous buffer.
        unsafe { std::slice::from_raw_parts(self.view.buf as *const u8, len) }
    }
}

impl Drop for BufferView {
    fn drop(&mut self) {
        // SAFETY: the view was filled by a successful PyObject_GetBuffer; the caller holds the GIL
        // (BufferView never leaves an attached scope).
        unsafe { ffi::PyBuffer_Release(self.view.as_mut()) }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Borrows `obj` as contiguous audio and classifies its element type.
pub fn view(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<BufferView> {
    let py = obj.py();
    let mut raw: Box<MaybeUninit<ffi::Py_buffer>> = Box::new(MaybeUninit::uninit());
    // SAFETY: standard buffer acquisition; on failure nothing needs releasing.
    let rc = unsafe {
        ffi::PyObject_GetBuffer(
            obj.as_ptr(),
            raw.as_mut_ptr(),
            ffi::PyBUF_C_CONTIGUOUS | ffi::PyBUF_FORMAT,
        )
    };
    if rc != 0 {
        let _ = PyErr::take(py);
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{what} expects bytes, bytearray, memoryview or a C-contiguous numpy array, got {}",
            type_name(obj)
        )));
    }
    // SAFETY: initialised by PyObject_GetBuffer above.
    let view: Box<ffi::Py_buffer> =
        unsafe { Box::from_raw(Box::into_raw(raw) as *mut ffi::Py_buffer) };
    let format = if view.format.is_null() {
        "B".to_owned()
    } else {
        // SAFETY: a non-null format is a NUL-terminated string owned by the exporter.
        unsafe { CStr::from_ptr(view.format) }
            .to_string_lossy()
            .into_owned()
    };
    let itemsize = view.itemsize;
    let mut held = BufferView {
        view,
        elem: Elem::U8,
    };
    let code = format.trim_start_matches(['@', '=', '<']);
    let big_endian_marker = format.starts_with(['>', '!']);
    held.elem = match (code, itemsize) {
        ("B" | "b" | "c", 1) => Elem::U8,
        ("h", 2) if !big_endian_marker && cfg!(target_endian = "little") => Elem::I16,
        ("f", 4) if !big_endian_marker && cfg!(target_endian = "little") => Elem::F32,
        _ => {
            return Err(invalid_audio(
                py,
                format!(
                    "{what}: unsupported sample format {format:?} (itemsize {itemsize}); \
                     pass bytes or little-endian int16 PCM (numpy dtype int16)"
                ),
            ))
        }
    };
    Ok(held)
}
