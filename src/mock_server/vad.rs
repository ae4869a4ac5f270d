//! Energy VAD: the server-side turn detection of the mock.
//!
//! Input is cut into 20 ms frames; a frame is "loud" when its RMS (int16
//! scale) reaches the threshold. Speech starts after `speech_ms` of loud
//! frames in a row and stops after `silence_ms` of quiet frames in a row.
//! Times are milliseconds of input audio since the start of the session, as
//! in the real server's `audio_start_ms` / `audio_end_ms`.

/// Frame length in milliseconds.
pub const FRAME_MS: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VadEvent {
    SpeechStarted { audio_start_ms: u64 },
    SpeechStopped { audio_end_ms: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadParams {
    pub threshold: f64,
    pub speech_ms: u32,
    pub silence_ms: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// `run_ms` of loud frames so far, starting at `run_start_ms`.
    Quiet { run_ms: u32, run_start_ms: u64 },
    /// In speech; `quiet_ms` of quiet frames so far.
    Speech { quiet_ms: u32 },
}

#[derive(Debug, Clone)]
pub struct Vad {
    params: VadParams,
    rate: u32,
    /// Sum of squares and count of the current partial frame.
    acc: f64,
    acc_n: u32,
    /// Input samples fully processed into frames (the session clock).
    samples_done: u64,
    state: State,
}

impl Vad {
    pub fn new(params: VadParams, rate: u32) -> Vad {
        Vad {
            params,
            rate: rate.max(1000),
            acc: 0.0,
            acc_n: 0,
            samples_done: 0,
            state: State::Quiet {
                run_ms: 0,
                run_start_ms: 0,
            },
        }
    }

    pub fn set_params(&mut self, params: VadParams) {
        self.params = params;
    }

    /// Changes the input rate (a new input format). The clock is kept in
    /// milliseconds, so the partial frame is dropped.
    pub fn set_rate(&mut self, rate: u32) {
        let rate = rate.max(1000);
        if rate != self.rate {
            let ms = self.now_ms();
            self.rate = rate;
            self.samples_done = ms * u64::from(rate) / 1000;
            self.acc = 0.0;
            self.acc_n = 0;
        }
    }

    /// Milliseconds of audio heard so far (whole frames).
    pub fn now_ms(&self) -> u64 {
        self.samples_done * 1000 / u64::from(self.rate)
    }

    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// Forgets any speech in progress (buffer cleared or committed by hand).
    pub fn reset(&mut self) {
        self.state = State::Quiet {
            run_ms: 0,
            run_start_ms: self.now_ms(),
        };
    }

    /// Feeds samples; returns the transitions they caused, in order.
    pub fn push(&mut self, samples: &[i16]) -> Vec<VadEvent> {
        let frame_len = self.rate * FRAME_MS / 1000;
        let mut events = Vec::new();
        for &s in samples {
            let v = f64::from(s);
            self.acc += v * v;
            self.acc_n += 1;
            if self.acc_n == frame_len {
                let rms = (self.acc / f64::from(frame_len)).sqrt();
                let start_ms = self.now_ms();
                self.samples_done += u64::from(frame_len);
                self.acc = 0.0;
                self.acc_n = 0;
                if let Some(e) = self.on_frame(rms >= self.params.threshold, start_ms) {
                    events.push(e);
                }
            }
        }
        events
    }

    fn on_frame(&mut self, loud: bool, frame_start_ms: u64) -> Option<VadEvent> {
        match self.state {
            State::Quiet {
                run_ms,
                run_start_ms,
            } => {
                if !loud {
                    self.state = State::Quiet {
                        run_ms: 0,
                        run_start_ms: 0,
                    };
                    return None;
                }
                let (run_ms, run_start_ms) = if run_ms == 0 {
                    (FRAME_MS, frame_start_ms)
                } else {
                    (run_ms + FRAME_MS, run_start_ms)
                };
                if run_ms >= self.params.speech_ms {
                    self.state = State::Speech { quiet_ms: 0 };
                    Some(VadEvent::SpeechStarted {
                        audio_start_ms: run_start_ms,
                    })
                } else {
                    self.state = State::Quiet {
                        run_ms,
                        run_start_ms,
                    };
                    None
                }
            }
            State::Speech { quiet_ms } => {
                if loud {
                    self.state = State::Speech { quiet_ms: 0 };
                    return None;
                }
                let quiet_ms = quiet_ms + FRAME_MS;
                if quiet_ms >= self.params.silence_ms {
                    self.state = State::Quiet {
                        run_ms: 0,
                        run_start_ms: 0,
                    };
                    // Like the real server, the end includes the trailing silence.
                    Some(VadEvent::SpeechStopped {
                        audio_end_ms: self.now_ms(),
                    })
                } else {
                    self.state = State::Speech { quiet_ms };
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: u32, amp: f64) -> Vec<i16> {
        (0..24 * ms)
            .map(|n| (amp * (f64::from(n) * 0.115).sin()) as i16)
            .collect()
    }

    fn params() -> VadParams {
        VadParams {
            threshold: 500.0,
            speech_ms: 60,
            silence_ms: 300,
        }
    }

    #[test]
    fn detects_a_turn() {
        let mut v = Vad::new(params(), 24_000);
        assert!(v.push(&tone(200, 0.0)).is_empty());
        let ev = v.push(&tone(500, 8000.0));
        assert_eq!(
            ev,
            vec![VadEvent::SpeechStarted {
                audio_start_ms: 200
            }]
        );
        assert!(v.in_speech());
        assert!(
            v.push(&tone(280, 0.0)).is_empty(),
            "280 ms of silence is not enough"
        );
        let ev = v.push(&tone(100, 0.0));
        assert_eq!(ev, vec![VadEvent::SpeechStopped { audio_end_ms: 1000 }]);
        assert!(!v.in_speech());
        assert_eq!(v.now_ms(), 1080);
    }

    #[test]
    fn short_blips_and_quiet_audio_are_not_speech() {
        let mut v = Vad::new(params(), 24_000);
        for _ in 0..10 {
            assert!(v.push(&tone(40, 8000.0)).is_empty());
            assert!(v.push(&tone(40, 0.0)).is_empty());
        }
        // RMS of a sine is peak / sqrt 2: 600 peak -> ~424 RMS, under 500.
        assert!(v.push(&tone(1000, 600.0)).is_empty());
    }

    #[test]
    fn frames_span_appends() {
        let mut v = Vad::new(params(), 24_000);
        let loud = tone(100, 8000.0);
        let mut events = Vec::new();
        for chunk in loud.chunks(37) {
            events.extend(v.push(chunk));
        }
        assert_eq!(events, vec![VadEvent::SpeechStarted { audio_start_ms: 0 }]);
    }

    #[test]
    fn speech_resumes_resets_silence() {
        let mut v = Vad::new(params(), 8_000);
        let loud: Vec<i16> = (0..800)
            .map(|n| if n % 2 == 0 { 4000 } else { -4000 })
            .collect();
        let quiet = vec![0i16; 1600];
        assert_eq!(v.push(&loud).len(), 1);
        assert!(v.push(&quiet).is_empty()); // 200 ms
        assert!(v.push(&loud).is_empty());
        assert!(v.push(&quiet).is_empty());
        let ev = v.push(&quiet);
        assert_eq!(ev, vec![VadEvent::SpeechStopped { audio_end_ms: 700 }]);
    }

    #[test]
    fn reset_and_rate_change() {
        let mut v = Vad::new(params(), 24_000);
        v.push(&tone(100, 8000.0));
        assert!(v.in_speech());
        v.reset();
        assert!(!v.in_speech());
        v.set_rate(8_000);
        assert_eq!(v.now_ms(), 100);
    }
}
