//! Convergence scheduling (SPEC section 4): the backoff-aware sync [`scheduler`].

pub mod scheduler;

pub use scheduler::{Scheduler, failure_delay};
