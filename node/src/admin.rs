//! The local admin API (HTTP, JSON) and the client `cohort status` / `cohort submit` use.
//!
//! ```text
//!   GET  /status                    node, identity, epoch and group key (if any), state digest,
//!                                   op count, heads, pending, flagged authors, boot recovery,
//!                                   and each peer's sync state
//!   POST /ops        body: bytes    appends a Data op with the body as payload; {"id": hex}
//!   GET  /ops?after=N&limit=M       up to M (at most 1000) ops from local position N on, and
//!                                   "next", the position to ask from next
//! ```
//!
//! It listens only on a loopback address (the config refuses any other): it has no
//! authentication, and appending ops signs them with the node's key. A payload larger than the
//! ledger accepts is answered 413 (before any of it is read when the request declares its
//! length); a ledger that is not running (yet) 503. [`router`] builds the API; `cohort run`
//! serves it with [`crate::http::serve`], under the runtime and within its timeouts and bounds.

use cohort_protocol::{
    dkg::Keys,
    ledger::{Error as LedgerError, Mailbox, OpKind, SignedOp, Status, op::MAX_DATA_BYTES},
};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, time::Duration};

/// Most ops one `GET /ops` returns.
pub const MAX_OPS_PER_PAGE: usize = 1000;

/// How long the client waits for an answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer's sync state in `GET /status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerJson {
    pub peer: String,
    pub failures: u32,
    pub last_success_ms: Option<u64>,
    pub anchor: bool,
}

/// `GET /status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusJson {
    pub node: String,
    pub identity: String,
    pub epoch: Option<u64>,
    pub group_key: Option<String>,
    pub digest: String,
    pub ops: u64,
    pub heads: Vec<String>,
    pub pending: usize,
    pub evicted: u64,
    pub flagged: Vec<String>,
    pub boot_recovered: bool,
    pub peers: Vec<PeerJson>,
}

/// One op in `GET /ops`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpJson {
    pub position: u64,
    pub id: String,
    pub author: String,
    pub seq: u64,
    pub kind: String,
    /// `Boot`: the boot count; `Heartbeat`: the uptime (ms).
    pub value: Option<u64>,
    /// `Data`: the payload, hex.
    pub payload: Option<String>,
    pub parents: Vec<String>,
    pub time_ms: u64,
}

/// `GET /ops`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpsJson {
    pub ops: Vec<OpJson>,
    pub next: u64,
}

/// `POST /ops`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubmittedJson {
    pub id: String,
}

#[derive(Deserialize)]
struct OpsQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

fn hex(bytes: &[u8]) -> String {
    crate::hex::encode(bytes)
}

fn status_json(name: &str, status: Status, keys: &Keys) -> StatusJson {
    let dkg = keys.current();
    StatusJson {
        node: name.to_string(),
        identity: hex(status.me.as_ref()),
        epoch: dkg.as_ref().map(|d| d.epoch),
        group_key: dkg.as_ref().map(|d| d.group_key_hex()),
        digest: hex(status.digest.as_ref()),
        ops: status.ops,
        heads: status.heads.iter().map(|h| hex(h.as_ref())).collect(),
        pending: status.pending,
        evicted: status.evicted,
        flagged: status.flagged.iter().map(|k| hex(k.as_ref())).collect(),
        boot_recovered: status.boot_recovered,
        peers: status
            .peers
            .into_iter()
            .map(|p| PeerJson {
                peer: hex(p.peer.as_ref()),
                failures: p.failures,
                last_success_ms: p.last_success_ms,
                anchor: p.anchor,
            })
            .collect(),
    }
}

fn op_json(position: u64, op: &SignedOp) -> OpJson {
    let (kind, value, payload) = match &op.op().kind {
        OpKind::Boot { boot_count } => ("boot", Some(*boot_count), None),
        OpKind::Heartbeat { uptime_ms } => ("heartbeat", Some(*uptime_ms), None),
        OpKind::Checkpoint(c) => (
            "checkpoint",
            Some(c.as_of_ms),
            Some(hex(&c.id(op.op().author))),
        ),
        OpKind::Data(data) => ("data", None, Some(hex(data))),
    };
    OpJson {
        position,
        id: hex(op.id().as_ref()),
        author: hex(&op.op().author),
        seq: op.op().seq,
        kind: kind.to_string(),
        value,
        payload,
        parents: op.op().parents.iter().map(|p| hex(p.as_ref())).collect(),
        time_ms: op.op().time_ms,
    }
}

/// The admin API of the node `name`, answering from its ledger's mailbox and its DKG result.
pub fn router(name: String, mailbox: Mailbox, keys: Keys) -> axum::Router {
    use axum::{
        Json, Router,
        body::Bytes,
        extract::{Query, State},
        http::StatusCode,
        response::{IntoResponse, Response},
        routing::get,
    };

    #[derive(Clone)]
    struct App {
        name: String,
        mailbox: Mailbox,
        keys: Keys,
    }

    fn unavailable(e: LedgerError) -> Response {
        let code = match e {
            LedgerError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        (code, e.to_string()).into_response()
    }

    async fn status(State(app): State<App>) -> Response {
        let mut mailbox = app.mailbox.clone();
        match mailbox.status().await {
            Ok(status) => Json(status_json(&app.name, status, &app.keys)).into_response(),
            Err(e) => unavailable(e),
        }
    }

    async fn submit(State(app): State<App>, body: Bytes) -> Response {
        if body.len() > MAX_DATA_BYTES {
            return unavailable(LedgerError::PayloadTooLarge(body.len()));
        }
        let mut mailbox = app.mailbox.clone();
        match mailbox.submit(body).await {
            Ok(id) => Json(SubmittedJson {
                id: hex(id.as_ref()),
            })
            .into_response(),
            Err(e) => unavailable(e),
        }
    }

    async fn ops(State(app): State<App>, Query(query): Query<OpsQuery>) -> Response {
        let after = query.after.unwrap_or(0);
        let limit = query.limit.unwrap_or(100).clamp(1, MAX_OPS_PER_PAGE);
        let mut mailbox = app.mailbox.clone();
        match mailbox.ops(after, limit).await {
            Ok((ops, next)) => Json(OpsJson {
                ops: ops
                    .iter()
                    .enumerate()
                    .map(|(i, op)| op_json(after + i as u64, op))
                    .collect(),
                next,
            })
            .into_response(),
            Err(e) => unavailable(e),
        }
    }

    Router::new()
        .route("/status", get(status))
        .route("/ops", get(ops).post(submit))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_DATA_BYTES + 1))
        .with_state(App {
            name,
            mailbox,
            keys,
        })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(CLIENT_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Reads a response body; a non-2xx status is an error with the body as its text.
fn body(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<String, String> {
    let mut response = response.map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}

/// `GET /status` of the node whose admin API is at `addr`.
pub fn get_status(addr: SocketAddr) -> Result<StatusJson, String> {
    let text = body(agent().get(format!("http://{addr}/status")).call())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// `POST /ops` to the node whose admin API is at `addr`; returns the op id (hex).
pub fn submit(addr: SocketAddr, payload: &[u8]) -> Result<String, String> {
    let text = body(agent().post(format!("http://{addr}/ops")).send(payload))?;
    let submitted: SubmittedJson = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(submitted.id)
}

/// `GET /ops?after=..&limit=..` of the node whose admin API is at `addr`.
pub fn get_ops(addr: SocketAddr, after: u64, limit: usize) -> Result<OpsJson, String> {
    let text = body(
        agent()
            .get(format!("http://{addr}/ops?after={after}&limit={limit}"))
            .call(),
    )?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}
