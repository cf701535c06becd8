//! Step barrier: moves every member through the phases of a ceremony together (SPEC section 1).

mod actor;
mod ingress;
pub mod state;
pub mod wire;

pub use actor::{Actor, Config};
pub use ingress::Mailbox;
pub use state::{BarrierError, Condition, PeerStatus, Status};
