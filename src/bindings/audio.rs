//! `realtime_ws.audio`'s native half: the streaming resampler, G.711 and
//! base64, over any buffer (bytes, bytearray, memoryview, numpy) without
//! copying the input. Outputs are built once, in their final object: `bytes`
//! written in place, numpy arrays handed a Rust `Vec` without a copy.
//!
//! Type rule: bytes-like input (format `B`) is PCM16 little-endian and gives
//! `bytes`; an int16 / float32 buffer (numpy array, typed memoryview) gives a
//! numpy array of the same dtype.

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::buffer::{self, Elem};
use super::errors::invalid_audio;
use crate::audio::resample::{f32_to_i16, Quality, Resampler as CoreResampler};
use crate::audio::{b64, g711};

/// Chunks above this many samples are computed with the interpreter detached.
const DETACH_SAMPLES: usize = 16_384;

/// Runs `f` on the bytes of `obj`: `bytes` directly, anything else through
/// the buffer protocol (classified as bytes / int16 / float32).
fn with_bytes<R>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    f: impl FnOnce(&[u8], Elem) -> PyResult<R>,
) -> PyResult<R> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return f(b.as_bytes(), Elem::U8);
    }
    let view = buffer::view(obj, what)?;
    f(view.bytes(), view.elem)
}

/// Output shape/type of a resampler call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bytes,
    I16,
    F32,
}

fn kind_of(e: Elem) -> Kind {
    match e {
        Elem::U8 => Kind::Bytes,
        Elem::I16 => Kind::I16,
        Elem::F32 => Kind::F32,
    }
}

fn emit<'py>(
    py: Python<'py>,
    y: &[f32],
    kind: Kind,
    channels: usize,
) -> PyResult<Bound<'py, PyAny>> {
    match kind {
        Kind::Bytes => Ok(PyBytes::new_with(py, y.len() * 2, |buf| {
            for (d, &v) in buf.chunks_exact_mut(2).zip(y) {
                d.copy_from_slice(&f32_to_i16(v).to_le_bytes());
            }
            Ok(())
        })?
        .into_any()),
        Kind::I16 => {
            let v: Vec<i16> = y.iter().map(|&v| f32_to_i16(v)).collect();
            shaped(PyArray1::from_vec(py, v), channels)
        }
        Kind::F32 => shaped(PyArray1::from_vec(py, y.to_vec()), channels),
    }
}

fn shaped<'py, T: numpy::Element>(
    a: Bound<'py, PyArray1<T>>,
    channels: usize,
) -> PyResult<Bound<'py, PyAny>> {
    if channels == 1 {
        return Ok(a.into_any());
    }
    let frames = a.len()? / channels;
    Ok(a.reshape([frames, channels])?.into_any())
}

/// A streaming resampler: `process(chunk)` any number of times, then `flush()`.
#[pyclass(name = "Resampler", module = "realtime_ws._core")]
pub struct Resampler {
    inner: CoreResampler,
    /// Output kind of the last `process` call; `flush` returns the same kind.
    last: Kind,
}

#[pymethods]
impl Resampler {
    #[new]
    #[pyo3(signature = (in_rate, out_rate, channels = 1, quality = "hq"))]
    fn new(in_rate: i64, out_rate: i64, channels: i64, quality: &str) -> PyResult<Self> {
        let q = Quality::parse(quality).map_err(PyValueError::new_err)?;
        let rate = |r: i64| {
            u32::try_from(r).map_err(|_| PyValueError::new_err(format!("invalid sample rate {r}")))
        };
        let ch = usize::try_from(channels)
            .map_err(|_| PyValueError::new_err(format!("invalid channels {channels}")))?;
        let inner = CoreResampler::new(rate(in_rate)?, rate(out_rate)?, ch, q)
            .map_err(PyValueError::new_err)?;
        Ok(Resampler {
            inner,
            last: Kind::I16,
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
        let ch = self.inner.channels();
        let big = self.inner.max_output_frames(0) > DETACH_SAMPLES;
        let y = if big {
            let inner = &mut self.inner;
            py.detach(move || {
                inner.pull(false);
            });
            self.inner.last_output()
        } else {
            self.inner.pull(false)
        };
        emit(py, y, kind, ch)
    }

    /// Ends the stream: returns the tail (same type as the last `process`
    /// input) and resets, so the resampler can start a new stream.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ch = self.inner.channels();
        let y = self.inner.pull(true);
        emit(py, y, self.last, ch)
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
        match self.inner.quality() {
            Quality::High => "hq",
            Quality::LowLatency => "low_latency",
        }
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
            PyBytes::new_with(py, bytes.len() / 2, |out| {
                law.encode_le(bytes, out);
                Ok(())
            })
        }
        Elem::F32 => {
            let pcm: Vec<i16> = bytes
                .chunks_exact(4)
                .map(|b| f32_to_i16(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect();
            PyBytes::new_with(py, pcm.len(), |out| {
                law.encode(&pcm, out);
                Ok(())
            })
        }
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
            return Ok(PyBytes::new_with(py, bytes.len() * 2, |out| {
                law.decode_le(bytes, out);
                Ok(())
            })?
            .into_any());
        }
        let mut v = vec![0i16; bytes.len()];
        law.decode(bytes, &mut v);
        Ok(PyArray1::from_vec(py, v).into_any())
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
