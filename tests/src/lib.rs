//! Cross-crate integration tests live in `tests/tests/`; this library holds what they share.

use cohort_protocol::{Event, Tracer};
use std::sync::{Arc, Mutex};

/// A tracer that keeps every event, for assertions.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Tracer for Recorder {
    fn record(&self, event: Event) {
        self.0.lock().expect("recorder").push(event);
    }
}

impl Recorder {
    /// Every event recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().expect("recorder").clone()
    }
}
