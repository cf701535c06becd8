//! Paginated backfill (SPEC section 4): the [`wire`] messages, the rate-limited [`server`], and
//! the client's [`client::Run`] with one peer.

pub mod client;
pub mod server;
pub mod wire;

pub use wire::Message;
