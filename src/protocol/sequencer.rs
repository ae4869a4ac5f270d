//! The response.create sequencer (SEED_BEHAVIOUR.md 5c): at most one response
//! is active or being requested at a time.
//!
//! Requests get increasing versions. A request is sent when nothing is
//! ongoing, control is free and it is the lowest queued version. An automatic
//! request (no override) covers every queued automatic request up to the next
//! manual one, so a burst of them becomes one `response.create`; a manual
//! request (the caller's own event, with its `response` override) covers only
//! itself. `response.created`/`response.done` clear what was covered and free
//! control; a linked server `error` drops the in-flight create and requeues the
//! automatic versions it covered so they are retried.

use std::collections::BTreeMap;

use super::client;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Free,
    CreateRequested,
    CancelRequested,
}

/// A queued request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Req {
    /// `{"type": "response.create"}`: coalesced with its neighbours.
    Auto,
    /// The caller's own event as JSON text (an object), and its `event_id`
    /// if it has one; sent as given.
    Manual {
        text: String,
        event_id: Option<String>,
    },
}

#[derive(Debug)]
struct InFlight {
    event_id: String,
    covered: Vec<(u64, Req)>,
}

#[derive(Debug)]
pub struct Sequencer {
    ongoing: bool,
    control: Control,
    next_version: u64,
    queue: BTreeMap<u64, Req>,
    in_flight: Option<InFlight>,
    id_counter: u64,
    generation: u64,
}

/// Prefix of generated `event_id`s (the reference uses `agents_js_response_create_`).
pub const EVENT_ID_PREFIX: &str = "realtime_ws_response_create_";

impl Default for Sequencer {
    fn default() -> Self {
        Self::new()
    }
}

impl Sequencer {
    pub fn new() -> Self {
        Sequencer {
            ongoing: false,
            control: Control::Free,
            next_version: 0,
            queue: BTreeMap::new(),
            in_flight: None,
            id_counter: 0,
            generation: 0,
        }
    }

    pub fn ongoing(&self) -> bool {
        self.ongoing
    }

    pub fn control(&self) -> Control {
        self.control
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of requests queued and not yet sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The `event_id` of the create in flight, if any.
    pub fn in_flight_event_id(&self) -> Option<&str> {
        self.in_flight.as_ref().map(|f| f.event_id.as_str())
    }

    /// Queues a request and returns the frame to send now, if any.
    pub fn request(&mut self, req: Req) -> Option<String> {
        let v = self.next_version;
        self.next_version += 1;
        self.queue.insert(v, req);
        self.pump()
    }

    /// Sends the next request if the slot is free.
    pub fn pump(&mut self) -> Option<String> {
        if self.ongoing || self.control != Control::Free {
            return None;
        }
        let (&first, first_req) = self.queue.iter().next()?;
        let mut covered = Vec::new();
        let frame;
        if let Req::Manual { text, event_id } = first_req.clone() {
            self.queue.remove(&first);
            let (frame_text, event_id) = match event_id {
                Some(id) => (text, id),
                None => {
                    let id = self.next_event_id();
                    (client::with_event_id(&text, &id), id)
                }
            };
            frame = frame_text;
            covered.push((
                first,
                Req::Manual {
                    text: String::new(),
                    event_id: None,
                },
            ));
            self.in_flight = Some(InFlight { event_id, covered });
        } else {
            let autos: Vec<u64> = self
                .queue
                .iter()
                .take_while(|(_, r)| **r == Req::Auto)
                .map(|(v, _)| *v)
                .collect();
            for v in autos {
                self.queue.remove(&v);
                covered.push((v, Req::Auto));
            }
            let event_id = self.next_event_id();
            frame = client::response_create(&event_id);
            self.in_flight = Some(InFlight { event_id, covered });
        }
        self.control = Control::CreateRequested;
        Some(frame)
    }

    fn next_event_id(&mut self) -> String {
        self.id_counter += 1;
        format!("{EVENT_ID_PREFIX}{}", self.id_counter)
    }

    pub fn on_response_created(&mut self) -> Option<String> {
        self.in_flight = None;
        self.control = Control::Free;
        self.ongoing = true;
        self.pump()
    }

    pub fn on_response_done(&mut self) -> Option<String> {
        self.in_flight = None;
        self.control = Control::Free;
        self.ongoing = false;
        self.pump()
    }

    /// The client sent `response.cancel`.
    pub fn on_cancel_sent(&mut self) {
        if self.ongoing {
            self.control = Control::CancelRequested;
        }
    }

    /// True when `_cancel_response` should send a cancel.
    pub fn can_cancel(&self) -> bool {
        self.ongoing && self.control != Control::CancelRequested
    }

    /// A server `error` event. Returns the next frame to send if the error
    /// released the in-flight create.
    pub fn on_error(
        &mut self,
        event_id: Option<&str>,
        code: Option<&str>,
        message: Option<&str>,
    ) -> Option<String> {
        let flight = self.in_flight.as_ref()?;
        let linked = match event_id {
            Some(id) => id == flight.event_id,
            None => {
                code.is_some_and(|c| c.contains("response_create"))
                    || message.is_some_and(|m| m.contains("response.create"))
            }
        };
        if !linked {
            return None;
        }
        if let Some(flight) = self.in_flight.take() {
            // The failed request itself is dropped; later automatic requests it
            // had folded in still want a response.
            for (v, req) in flight.covered.into_iter().skip(1) {
                if req == Req::Auto {
                    self.queue.insert(v, Req::Auto);
                }
            }
        }
        self.control = Control::Free;
        self.pump()
    }

    /// The frame returned by `request`/`pump` could not be sent.
    pub fn on_send_failed(&mut self) {
        self.in_flight = None;
        self.control = Control::Free;
    }

    /// Disconnect: nothing queued is ever sent.
    pub fn reset(&mut self) {
        self.ongoing = false;
        self.control = Control::Free;
        self.queue.clear();
        self.in_flight = None;
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("json")
    }

    fn manual(response: Value) -> Req {
        Req::Manual {
            text: json!({"type": "response.create", "response": response}).to_string(),
            event_id: None,
        }
    }

    #[test]
    fn first_request_is_sent_at_once_with_generated_id() {
        let mut s = Sequencer::new();
        let f = parse(&s.request(Req::Auto).expect("sent"));
        assert_eq!(
            f,
            json!({"type":"response.create","event_id":"realtime_ws_response_create_1"})
        );
        assert_eq!(s.control(), Control::CreateRequested);
    }

    #[test]
    fn autos_coalesce_while_a_create_is_in_flight() {
        let mut s = Sequencer::new();
        assert!(s.request(Req::Auto).is_some());
        assert!(s.request(Req::Auto).is_none());
        assert!(s.request(Req::Auto).is_none());
        assert!(s.on_response_created().is_none());
        let f = s.on_response_done().expect("one coalesced create");
        assert_eq!(parse(&f)["event_id"], "realtime_ws_response_create_2");
        assert!(s.on_response_created().is_none());
        assert!(s.on_response_done().is_none(), "both autos were covered");
    }

    #[test]
    fn manual_override_stays_separate_from_autos() {
        let mut s = Sequencer::new();
        s.on_response_created();
        assert!(s.request(Req::Auto).is_none());
        assert!(s.request(manual(json!({"instructions":"x"}))).is_none());
        assert!(s.request(Req::Auto).is_none());
        let first = parse(&s.on_response_done().expect("auto"));
        assert!(first.get("response").is_none());
        s.on_response_created();
        let second = parse(&s.on_response_done().expect("manual"));
        assert_eq!(second["response"]["instructions"], "x");
        s.on_response_created();
        let third = parse(&s.on_response_done().expect("trailing auto"));
        assert!(third.get("response").is_none());
    }

    #[test]
    fn linked_error_drops_the_failed_create_and_requeues_later_autos() {
        let mut s = Sequencer::new();
        let id = parse(&s.request(Req::Auto).expect("sent"))["event_id"].clone();
        // A lone auto request that fails is not retried (reference 0.20).
        assert!(s.on_error(id.as_str(), None, None).is_none());
        assert_eq!(s.queued(), 0);
        assert_eq!(s.control(), Control::Free);
        // An auto folded into a failed create (queued while it was in flight,
        // coalesced when it was sent) is retried once.
        let mut s = Sequencer::new();
        s.on_response_created();
        s.request(Req::Auto);
        s.request(Req::Auto);
        let id = parse(&s.on_response_done().expect("coalesced"))["event_id"].clone();
        // Unrelated error: nothing changes.
        assert!(s.on_error(Some("other"), None, None).is_none());
        let retry = s.on_error(id.as_str(), None, None).expect("retried");
        assert_eq!(parse(&retry)["type"], "response.create");
        assert!(s
            .on_error(parse(&retry)["event_id"].as_str(), None, None)
            .is_none());
        // A manual create that fails is not retried.
        let mut s = Sequencer::new();
        let f = parse(&s.request(manual(json!({}))).expect("sent"));
        assert!(s.on_error(f["event_id"].as_str(), None, None).is_none());
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn unlinked_error_matches_by_code_or_message() {
        let mut s = Sequencer::new();
        s.request(Req::Auto);
        assert!(s
            .on_error(None, Some("invalid_value"), Some("nope"))
            .is_none());
        assert_eq!(s.control(), Control::CreateRequested);
        assert!(s
            .on_error(
                None,
                Some("conversation_already_has_active_response_create"),
                None
            )
            .is_none());
        assert_eq!(s.control(), Control::Free, "released by its code");
        let mut s = Sequencer::new();
        s.request(Req::Auto);
        s.on_error(None, None, Some("bad response.create payload"));
        assert_eq!(s.control(), Control::Free, "released by its message");
    }

    #[test]
    fn cancel_only_while_ongoing_and_blocks_until_done() {
        let mut s = Sequencer::new();
        assert!(!s.can_cancel());
        s.on_cancel_sent();
        assert_eq!(s.control(), Control::Free);
        s.on_response_created();
        assert!(s.can_cancel());
        s.on_cancel_sent();
        assert!(!s.can_cancel());
        assert!(s.request(Req::Auto).is_none());
        assert!(s.on_response_done().is_some());
    }

    #[test]
    fn caller_event_id_is_kept_and_reset_drops_everything() {
        let mine = || Req::Manual {
            text: r#"{"type":"response.create","event_id":"mine"}"#.into(),
            event_id: Some("mine".into()),
        };
        let mut s = Sequencer::new();
        s.on_response_created();
        assert!(s.request(mine()).is_none());
        s.reset();
        assert!(s.on_response_done().is_none());
        assert_eq!(s.queued(), 0);
        assert_eq!(s.generation(), 1);
        let f = parse(&s.request(mine()).expect("sent"));
        assert_eq!(f["event_id"], "mine");
        assert_eq!(s.in_flight_event_id(), Some("mine"));
    }

    #[test]
    fn a_server_rejecting_every_create_gets_one_create_per_request() {
        // Issue 12 #1: 1 create, not a create/error loop.
        let mut s = Sequencer::new();
        let mut sent = 0;
        let mut next = s.request(Req::Auto);
        while let Some(f) = next.take() {
            sent += 1;
            assert!(sent < 10, "retry loop");
            let id = parse(&f)["event_id"].clone();
            next = s.on_error(
                id.as_str(),
                Some("conversation_already_has_active_response"),
                None,
            );
        }
        assert_eq!(sent, 1);
    }
}
