//! `realtime_ws.audio`'s native half: the streaming resampler, G.711 and
//! base64, over any buffer (bytes, bytearray, memoryview, numpy) without
//! copying the input. Outputs are allocated once, at their final size, and
//! written in place by the kernels: `bytes` through `PyBytes_FromStringAndSize(NULL, n)`,
//! numpy arrays through `PyArray_NewFromDescr` (no zero-fill, no intermediate
//! `Vec`, no copy).
//!
//! Type rule: bytes-like input (format `B`) is PCM16 little-endian and gives
//! `bytes`; an int16 / float32 buffer (numpy array, typed memoryview) gives a
//! numpy array of the same dtype.
//!
//! Per-call cost matters here (a 20 ms G.711 chunk is ~0.1 µs of work), so
//! the input buffer is acquired on the stack (`Py_buffer` without a heap box,
//! format compared without allocating) and `bytes` is read directly.

use std::mem::MaybeUninit;

use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::buffer::{with_bytes, Elem};
use crate::error::CoreError;

fn invalid_audio(_py: Python<'_>, message: impl Into<String>) -> PyErr {
    CoreError::audio(message).into()
}
use crate::audio::resample::{f32_to_i16, OutSample, Quality, Resampler as CoreResampler};
use crate::audio::{b64, g711};

/// Chunks above this many output samples are computed with the interpreter detached.
const DETACH_SAMPLES: usize = 16_384;

/// A new `bytes` of `len` bytes, written in place by `init` (no zero-fill).
/// `init` must initialise every byte.
fn bytes_with<'py>(
    py: Python<'py>,
    len: usize,
    init: impl FnOnce(&mut [MaybeUninit<u8>]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyBytes>> {
    // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new bytes object
    // with `n` uninitialised bytes that we own exclusively until returned;
    // `init` writes all of them (MaybeUninit keeps Rust from reading them).
    unsafe {
        let ptr = ffi::PyBytes_FromStringAndSize(std::ptr::null(), len as ffi::Py_ssize_t);
        let obj = Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked::<PyBytes>();
        let buf = ffi::PyBytes_AsString(ptr).cast::<MaybeUninit<u8>>();
        init(std::slice::from_raw_parts_mut(buf, len))?;
        Ok(obj)
    }
}

/// Views uninitialised bytes as uninitialised `[u8; N]` (alignment 1).
fn as_arrays_uninit<const N: usize>(b: &mut [MaybeUninit<u8>]) -> &mut [MaybeUninit<[u8; N]>] {
    // SAFETY: MaybeUninit<[u8; N]> has size N and alignment 1; the length is rounded down.
    unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast(), b.len() / N) }
}

/// What kind of buffer a resampler call got, so it returns the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BufKind {
    Bytes,
    I16,
    F32,
}

fn value_error(message: impl Into<String>) -> PyErr {
    CoreError::value(message).into()
}

fn kind_of(e: Elem) -> BufKind {
    match e {
        Elem::U8 => BufKind::Bytes,
        Elem::I16 => BufKind::I16,
        Elem::F32 => BufKind::F32,
    }
}

/// An uninitialised numpy array of `frames` (x `channels` when > 1) elements,
/// with its data as a mutable slice.
fn new_array<'py, T: numpy::Element>(
    py: Python<'py>,
    frames: usize,
    channels: usize,
) -> (Bound<'py, PyAny>, &'py mut [MaybeUninit<T>]) {
    let n = frames * channels;
    // SAFETY: `PyArray::new` allocates an uninitialised, C-contiguous array
    // that nobody else references yet; its data pointer is valid for `n`
    // elements for the array's lifetime ('py, as the Bound is returned with it);
    // the caller initialises every element before Python sees the array.
    unsafe {
        if channels == 1 {
            let a = PyArray1::<T>::new(py, [n], false);
            let data = std::slice::from_raw_parts_mut(a.data().cast::<MaybeUninit<T>>(), n);
            (a.into_any(), data)
        } else {
            let a = PyArray2::<T>::new(py, [frames, channels], false);
            let data = std::slice::from_raw_parts_mut(a.data().cast::<MaybeUninit<T>>(), n);
            (a.into_any(), data)
        }
    }
}

/// Pulls the ready output of `inner` straight into a new Python object of `kind`
/// (detaching from the interpreter for large outputs).
fn emit<'py>(
    py: Python<'py>,
    inner: &mut CoreResampler,
    flush: bool,
    kind: BufKind,
) -> PyResult<Bound<'py, PyAny>> {
    let ch = inner.channels();
    let frames = inner.ready_frames(flush);
    fn run<T: OutSample + Send>(
        py: Python<'_>,
        inner: &mut CoreResampler,
        flush: bool,
        out: &mut [MaybeUninit<T>],
    ) {
        if out.len() > DETACH_SAMPLES {
            py.detach(|| inner.pull_into_uninit(flush, out));
        } else {
            inner.pull_into_uninit(flush, out);
        }
    }
    Ok(match kind {
        BufKind::Bytes => bytes_with(py, frames * ch * 2, |buf| {
            run::<[u8; 2]>(py, inner, flush, as_arrays_uninit(buf));
            Ok(())
        })?
        .into_any(),
        BufKind::I16 => {
            let (a, data) = new_array::<i16>(py, frames, ch);
            run(py, inner, flush, data);
            a
        }
        BufKind::F32 => {
            let (a, data) = new_array::<f32>(py, frames, ch);
            run(py, inner, flush, data);
            a
        }
    })
}

/// A streaming resampler: `process(chunk)` any number of times, then `flush()`.
#[pyclass(name = "Resampler", module = "realtime_ws._core")]
pub struct Resampler {
    inner: CoreResampler,
    /// Output kind of the last `process` call; `flush` returns the same kind.
    last: BufKind,
}

#[pymethods]
impl Resampler {
    #[new]
    #[pyo3(signature = (in_rate, out_rate, channels = 1, quality = "hq"))]
    fn new(in_rate: i64, out_rate: i64, channels: i64, quality: &str) -> PyResult<Self> {
        let q = Quality::parse(quality).map_err(value_error)?;
        let rate =
            |r: i64| u32::try_from(r).map_err(|_| value_error(format!("invalid sample rate {r}")));
        let ch = usize::try_from(channels)
            .map_err(|_| value_error(format!("invalid channels {channels}")))?;
        let inner =
            CoreResampler::new(rate(in_rate)?, rate(out_rate)?, ch, q).map_err(value_error)?;
        Ok(Resampler {
            inner,
            last: BufKind::I16,
        })
    }

    /// Resamples one chunk; returns what is ready (same type as the input).
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = &mut self.inner;
        let kind = with_bytes(chunk, "Resampler.process", |bytes, elem| {
            let r = match elem {
                Elem::U8 | Elem::I16 => inner.push_i16_le(bytes),
                Elem::F32 => inner.push_f32_le(bytes),
            };
            r.map_err(|e| invalid_audio(py, format!("Resampler.process: {e}")))?;
            Ok(kind_of(elem))
        })?;
        self.last = kind;
        emit(py, &mut self.inner, false, kind)
    }

    /// Ends the stream: returns the tail (same type as the last `process`
    /// input) and resets, so the resampler can start a new stream.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        emit(py, &mut self.inner, true, self.last)
    }

    /// Drops all buffered input without emitting it.
    fn reset(&mut self) {
        self.inner.reset();
    }

    #[getter]
    fn in_rate(&self) -> u32 {
        self.inner.in_rate()
    }

    #[getter]
    fn out_rate(&self) -> u32 {
        self.inner.out_rate()
    }

    #[getter]
    fn channels(&self) -> usize {
        self.inner.channels()
    }

    #[getter]
    fn quality(&self) -> &'static str {
        self.inner.quality().name()
    }

    /// Group delay (latency) in milliseconds.
    #[getter]
    fn delay_ms(&self) -> f64 {
        self.inner.delay_ms()
    }

    fn __repr__(&self) -> String {
        format!(
            "Resampler(in_rate={}, out_rate={}, channels={}, quality='{}')",
            self.inner.in_rate(),
            self.inner.out_rate(),
            self.inner.channels(),
            self.quality()
        )
    }
}

/// PCM16 (bytes-like, int16 or float32 buffer) to G.711 codes.
fn g711_encode<'py>(
    py: Python<'py>,
    pcm: &Bound<'py, PyAny>,
    law: g711::Law,
    what: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    with_bytes(pcm, what, |bytes, elem| match elem {
        Elem::U8 | Elem::I16 => {
            if bytes.len() % 2 != 0 {
                return Err(invalid_audio(
                    py,
                    format!(
                        "{what}: PCM16 needs an even number of bytes, got {}",
                        bytes.len()
                    ),
                ));
            }
            bytes_with(py, bytes.len() / 2, |out| {
                law.encode_le_uninit(bytes, out);
                Ok(())
            })
        }
        Elem::F32 => bytes_with(py, bytes.len() / 4, |out| {
            for (d, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                let s = f32_to_i16(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                d.write(match law {
                    g711::Law::Ulaw => g711::ulaw_encode_sample(s),
                    g711::Law::Alaw => g711::alaw_encode_sample(s),
                });
            }
            Ok(())
        }),
    })
}

/// G.711 codes to PCM16: a numpy int16 array, or little-endian bytes.
fn g711_decode<'py>(
    py: Python<'py>,
    codes: &Bound<'py, PyAny>,
    law: g711::Law,
    as_bytes: bool,
    what: &str,
) -> PyResult<Bound<'py, PyAny>> {
    with_bytes(codes, what, |bytes, elem| {
        if elem != Elem::U8 {
            return Err(invalid_audio(
                py,
                format!("{what}: expects G.711 codes as bytes (one byte per sample)"),
            ));
        }
        if as_bytes {
            return Ok(bytes_with(py, bytes.len() * 2, |out| {
                law.decode_le_uninit(bytes, out);
                Ok(())
            })?
            .into_any());
        }
        let (a, data) = new_array::<i16>(py, bytes.len(), 1);
        // SAFETY: i16 and [u8; 2] have the same size; on this little-endian
        // path (numpy int16 is native-endian) the LE bytes are the i16 values.
        // The array data is at least 2-byte aligned; [u8; 2] needs 1.
        let out = unsafe {
            std::slice::from_raw_parts_mut(
                data.as_mut_ptr().cast::<MaybeUninit<u8>>(),
                data.len() * 2,
            )
        };
        if cfg!(target_endian = "little") {
            law.decode_le_uninit(bytes, out);
        } else {
            for (d, &c) in data.iter_mut().zip(bytes) {
                d.write(match law {
                    g711::Law::Ulaw => g711::ulaw_decode_sample(c),
                    g711::Law::Alaw => g711::alaw_decode_sample(c),
                });
            }
        }
        Ok(a)
    })
}

/// µ-law encode PCM16 (bytes / int16 / float32 in [-1, 1]) to bytes.
#[pyfunction]
pub fn ulaw_encode<'py>(py: Python<'py>, pcm: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    g711_encode(py, pcm, g711::Law::Ulaw, "ulaw_encode")
}

/// A-law encode PCM16 (bytes / int16 / float32 in [-1, 1]) to bytes.
#[pyfunction]
pub fn alaw_encode<'py>(py: Python<'py>, pcm: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    g711_encode(py, pcm, g711::Law::Alaw, "alaw_encode")
}

/// µ-law decode to a numpy int16 array (or PCM16 bytes with `as_bytes=True`).
#[pyfunction]
#[pyo3(signature = (codes, *, as_bytes = false))]
pub fn ulaw_decode<'py>(
    py: Python<'py>,
    codes: &Bound<'py, PyAny>,
    as_bytes: bool,
) -> PyResult<Bound<'py, PyAny>> {
    g711_decode(py, codes, g711::Law::Ulaw, as_bytes, "ulaw_decode")
}

/// A-law decode to a numpy int16 array (or PCM16 bytes with `as_bytes=True`).
#[pyfunction]
#[pyo3(signature = (codes, *, as_bytes = false))]
pub fn alaw_decode<'py>(
    py: Python<'py>,
    codes: &Bound<'py, PyAny>,
    as_bytes: bool,
) -> PyResult<Bound<'py, PyAny>> {
    g711_decode(py, codes, g711::Law::Alaw, as_bytes, "alaw_decode")
}

/// Standard, padded base64 of any buffer, as ASCII bytes.
#[pyfunction]
pub fn b64encode<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    with_bytes(data, "b64encode", |bytes, _| {
        PyBytes::new_with(py, b64::encoded_len(bytes.len()), |out| {
            b64::encode_to_slice(bytes, out);
            Ok(())
        })
    })
}

/// Decodes standard, padded base64 (str or bytes-like) to bytes; raises
/// `InvalidAudioError` (a `ValueError`) on malformed input.
#[pyfunction]
pub fn b64decode<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let run = |text: &[u8]| -> PyResult<Bound<'py, PyBytes>> {
        let bad = |e: b64::DecodeError| invalid_audio(py, format!("b64decode: {e}"));
        if text.len() % 4 != 0 {
            return Err(bad(b64::DecodeError(format!(
                "length {} is not a multiple of 4 (padded base64 expected)",
                text.len()
            ))));
        }
        let n = b64::decoded_len(text);
        PyBytes::new_with(py, n, |out| match b64::decode_to_slice(text, out) {
            Ok(w) if w == n => Ok(()),
            Ok(w) => Err(bad(b64::DecodeError(format!(
                "decoded {w} bytes, expected {n}"
            )))),
            Err(e) => Err(bad(e)),
        })
    };
    if let Ok(s) = data.cast::<PyString>() {
        return run(s.to_str()?.as_bytes());
    }
    with_bytes(data, "b64decode", |bytes, _| run(bytes))
}
