//! The session's audio in both directions: validation of what the user sends,
//! conversion between the user's format (`AudioSpec`) and the wire format,
//! and partial samples.
//!
//! Wire formats come from one rule each: input follows the client's own last
//! `session.update` (the server reads appends in the format it was last asked
//! for), output follows the server (`session.updated`, or a response's own
//! format from `response.created`).
//!
//! Partial samples never become audio: a send whose byte count is not a whole
//! number of samples keeps the remainder for the next send (PCM16 stays
//! aligned, nothing is lost) and reports it only if a commit or a close leaves
//! it dangling; a server delta with an odd byte count carries its last byte to
//! the next delta of the same item, and reports it if the item ends first.

use crate::audio::convert::{Converter, Elem, Encoding, Spec};
use crate::audio::format::WireFormat;
use crate::audio::resample::Quality;

use super::CoreError;

/// Sending threads convert at most this much audio per call on the calling
/// thread while holding the session lock; above it the bindings release the GIL.
pub const LARGE_CHUNK: usize = 16 * 1024;

#[derive(Default)]
struct Carry {
    bytes: [u8; 4],
    len: usize,
}

impl Carry {
    fn take(&mut self) -> &[u8] {
        let n = std::mem::take(&mut self.len);
        &self.bytes[..n]
    }
}

/// A byte of a server delta waiting for the next delta of its item.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OutCarry {
    item_id: String,
    content_index: i64,
    byte: u8,
}

pub struct AudioPath {
    user_in: Option<Spec>,
    user_out: Option<Spec>,
    quality: Quality,
    pub wire_in: WireFormat,
    pub wire_out: WireFormat,
    // Boxed: a converter holds a resampler's state (hundreds of bytes), and
    // most sessions have none; every idle session pays for what is inline.
    /// User -> wire (None when the user sends the wire format).
    input: Option<Box<Converter>>,
    /// Wire -> user, built for `output_from`.
    output: Option<Box<Converter>>,
    output_from: WireFormat,
    in_carry: Carry,
    out_carry: Option<OutCarry>,
}

/// What to do with one server delta after conversion.
pub struct OutputAudio {
    pub data: Vec<u8>,
    /// A problem to report (a dropped partial sample, a conversion error).
    pub problem: Option<String>,
}

impl Default for AudioPath {
    fn default() -> Self {
        AudioPath {
            user_in: None,
            user_out: None,
            quality: Quality::High,
            wire_in: WireFormat::PCM24K,
            wire_out: WireFormat::PCM24K,
            input: None,
            output: None,
            output_from: WireFormat::PCM24K,
            in_carry: Carry::default(),
            out_carry: None,
        }
    }
}

fn elem_name(e: Elem) -> &'static str {
    match e {
        Elem::U8 => "bytes",
        Elem::I16 => "int16",
        Elem::F32 => "float32",
    }
}

impl AudioPath {
    /// Sets the user-side formats (`None`: the wire format, no conversion).
    pub fn set_user_formats(
        &mut self,
        input: Option<Spec>,
        output: Option<Spec>,
        quality: Quality,
    ) -> Result<(), CoreError> {
        for s in [input, output].into_iter().flatten() {
            if !(1000..=384_000).contains(&s.rate) {
                return Err(CoreError::value(format!(
                    "audio rate must be 1000..384000 Hz, got {}",
                    s.rate
                )));
            }
        }
        self.user_in = input;
        self.user_out = output;
        self.quality = quality;
        self.input = None;
        self.output = None;
        self.rebuild_input()?;
        self.rebuild_output(self.wire_out)
    }

    fn rebuild_input(&mut self) -> Result<(), CoreError> {
        self.input = match self.user_in {
            Some(u) if u != self.wire_in.spec() => Some(Box::new(
                Converter::input(u, self.wire_in, self.quality).map_err(CoreError::value)?,
            )),
            _ => None,
        };
        Ok(())
    }

    fn rebuild_output(&mut self, from: WireFormat) -> Result<(), CoreError> {
        self.output_from = from;
        self.output = match self.user_out {
            Some(u) if u != from.spec() => Some(Box::new(
                Converter::output(u, from, self.quality).map_err(CoreError::value)?,
            )),
            _ => None,
        };
        Ok(())
    }

    /// The client asked for a new input format (its `session.update`).
    pub fn set_wire_input(&mut self, f: WireFormat) -> Result<(), CoreError> {
        if f != self.wire_in {
            self.wire_in = f;
            self.rebuild_input()?;
        }
        Ok(())
    }

    /// The server reported its output format (`session.updated`).
    pub fn set_wire_output(&mut self, f: WireFormat) {
        self.wire_out = f;
    }

    /// The format the user's `send_audio` takes.
    fn user_input_spec(&self) -> Spec {
        self.user_in.unwrap_or_else(|| self.wire_in.spec())
    }

    /// Checks a `send_audio` buffer: element type against the input format.
    /// Returns the byte count. A byte count that is not a whole number of
    /// samples is fine for bytes-like input (the rest is carried).
    pub fn check(&self, bytes: &[u8], elem: Elem) -> Result<usize, CoreError> {
        let spec = self.user_input_spec();
        let ok = matches!(
            (spec.encoding, elem),
            (_, Elem::U8) | (Encoding::Pcm16, Elem::I16) | (Encoding::F32, Elem::F32)
        );
        if !ok {
            let hint = if elem == Elem::F32 {
                "; pass input_audio=AudioSpec(encoding='f32') to send float32 audio"
            } else {
                ""
            };
            return Err(CoreError::audio(format!(
                "send_audio: the input format is {} but the array holds {}{hint}",
                spec.encoding.name(),
                elem_name(elem)
            )));
        }
        Ok(bytes.len())
    }

    /// Converts one `send_audio` buffer to the wire format (appending to
    /// `wire`). Whole samples only; a partial sample is carried.
    pub fn convert_input(
        &mut self,
        bytes: &[u8],
        commit: bool,
        wire: &mut Vec<u8>,
    ) -> Result<Option<String>, CoreError> {
        let bps = self.user_input_spec().encoding.bytes_per_sample();
        // Prepend the carried partial sample, if any.
        let joined: Vec<u8>;
        let data = if self.in_carry.len > 0 {
            let mut j = Vec::with_capacity(self.in_carry.len + bytes.len());
            j.extend_from_slice(self.in_carry.take());
            j.extend_from_slice(bytes);
            joined = j;
            &joined[..]
        } else {
            bytes
        };
        let whole = data.len() - data.len() % bps;
        let (now, rest) = data.split_at(whole);
        match self.input.as_mut() {
            Some(c) => {
                c.process(now, wire)
                    .map_err(|e| CoreError::audio(format!("send_audio: {e}")))?;
                if commit {
                    // The resampler's tail belongs to this turn.
                    c.flush(wire);
                }
            }
            None => wire.extend_from_slice(now),
        }
        let mut dropped = None;
        if commit && !rest.is_empty() {
            dropped = Some(format!(
                "send_audio(commit=True): {} trailing byte(s) did not make a whole {} sample and were dropped",
                rest.len(),
                self.user_input_spec().encoding.name()
            ));
        } else if !rest.is_empty() {
            self.in_carry.bytes[..rest.len()].copy_from_slice(rest);
            self.in_carry.len = rest.len();
        }
        Ok(dropped)
    }

    /// Bytes of a partial input sample waiting for the next send.
    pub fn input_carry(&self) -> usize {
        self.in_carry.len
    }

    /// The decoded audio of one server delta, in the user's format.
    pub fn convert_output(
        &mut self,
        item_id: &str,
        content_index: i64,
        format: WireFormat,
        mut decoded: Vec<u8>,
    ) -> OutputAudio {
        let mut problem = None;
        if format != self.output_from {
            if let Err(e) = self.rebuild_output(format) {
                return OutputAudio {
                    data: Vec::new(),
                    problem: Some(e.message),
                };
            }
        }
        // Partial samples: join a carried byte of the same item, carry a new one.
        if let Some(c) = self.out_carry.take() {
            if c.item_id == item_id && c.content_index == content_index {
                decoded.insert(0, c.byte);
            } else {
                problem = Some(dangling(&c));
            }
        }
        let bps = format.sample_bytes();
        if bps > 1 && decoded.len() % bps != 0 {
            let last = decoded.pop();
            if let Some(byte) = last {
                self.out_carry = Some(OutCarry {
                    item_id: item_id.to_owned(),
                    content_index,
                    byte,
                });
            }
        }
        let data = match self.output.as_mut() {
            Some(c) => {
                let mut out = Vec::with_capacity(decoded.len() * 2);
                if let Err(e) = c.process(&decoded, &mut out) {
                    problem.get_or_insert(format!("output audio: {e}"));
                }
                out
            }
            None => decoded,
        };
        OutputAudio { data, problem }
    }

    /// The end of an item's audio: the converter's tail, and a report of a
    /// partial sample left over.
    pub fn finish_output(&mut self) -> OutputAudio {
        let problem = self.out_carry.take().map(|c| dangling(&c));
        let mut data = Vec::new();
        if let Some(c) = self.output.as_mut() {
            c.flush(&mut data);
        }
        OutputAudio { data, problem }
    }

    /// Drops what the output converter holds (an interrupted response).
    pub fn discard_output(&mut self) {
        self.out_carry = None;
        if let Some(c) = self.output.as_mut() {
            c.reset();
        }
    }

    /// A disconnect: stream state restarts. Returns the partial input sample
    /// that was dropped, if any, for a report.
    pub fn reset(&mut self) -> usize {
        let dropped = std::mem::take(&mut self.in_carry.len);
        self.out_carry = None;
        if let Some(c) = self.input.as_mut() {
            c.reset();
        }
        if let Some(c) = self.output.as_mut() {
            c.reset();
        }
        dropped
    }
}

fn dangling(c: &OutCarry) -> String {
    format!(
        "response.output_audio.delta for item {:?} ended in the middle of a sample; the last byte was dropped",
        c.item_id
    )
}
