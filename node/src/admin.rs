//! The local admin API (HTTP, JSON) and the client `cohort status` / `cohort submit` use.
//!
//! ```text
//!   GET  /status                    node, identity, epoch and group key (if any), state digest,
//!                                   op count, heads, pending, flagged authors, boot recovery,
//!                                   and each peer's sync state
//!   POST /ops        body: bytes    appends a Data op with the body as payload; {"id": hex}
//!   GET  /ops?after=N&limit=M       up to M (at most 1000) ops from local position N on, and
//!                                   "next", the position to ask from next
//!   GET  /checkpoints[?subject=HEX] every certified checkpoint the ledger holds (of one subject),
//!                                   in ledger order, each re-verified under the group key
//!   GET  /committee                 the committee chain and open proposals (see
//!   POST /committee                 [`crate::committee`]); proposes a membership change
//! ```
//!
//! `/status` also carries the checkpoint actor's state (`checkpoint`: absent when the node
//! runs no checkpoints).
//!
//! It listens only on a loopback address (the config refuses any other): it has no
//! authentication, and appending ops signs them with the node's key. A payload larger than the
//! ledger accepts is answered 413 (before any of it is read when the request declares its
//! length); a ledger that is not running (yet) 503. [`router`] builds the API; `cohort run`
//! serves it with [`crate::http::serve`], under the runtime and within its timeouts and bounds.

use crate::committee;
use cohort_protocol::{
    checkpoint::{self, tally, wire::CERTIFICATE_NAMESPACE},
    dkg::Keys,
    governance,
    ledger::{Error as LedgerError, Mailbox, OpKind, SignedOp, Status, op::MAX_DATA_BYTES},
};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, time::Duration};

/// Most ops one `GET /ops` returns.
pub const MAX_OPS_PER_PAGE: usize = 1000;

/// Most checkpoints one `GET /checkpoints` returns (the first ones, in ledger order).
pub const MAX_CHECKPOINTS: usize = 10_000;

/// The checkpoint actor's state in `GET /status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointStatusJson {
    /// This node holds a share and votes.
    pub ready: bool,
    /// The round of this node's proposal open for votes, and its approvals so far.
    pub voting_round: Option<u8>,
    pub voting_approvals: Option<usize>,
    /// When this node's next proposal is due (ms since the Unix epoch).
    pub next_due_ms: Option<u64>,
    /// This node's checkpoints certified, and rounds that closed without, since it started.
    pub certified: u64,
    pub rounds_failed: u64,
}

/// One certified checkpoint in `GET /checkpoints`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointJson {
    pub position: u64,
    pub subject: String,
    /// The certified proposal's digest (what the threshold signature signs).
    pub id: String,
    pub previous: Option<String>,
    pub round: u8,
    pub as_of_ms: u64,
    pub restarts: u64,
    pub uptime_ms: u64,
    pub first_seen_ms: u64,
    /// The certificate verifies under the group key this node holds (false without one).
    pub verified: bool,
}

/// `GET /checkpoints`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointsJson {
    pub checkpoints: Vec<CheckpointJson>,
    /// More than [`MAX_CHECKPOINTS`] matched.
    pub truncated: bool,
}

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
    /// This node's share of the current epoch: `held`; `missing` (it is a player of the
    /// epoch's output but lost its share with its DKG journal: `cohort committee propose
    /// --reshare` gives it a new one); `none` (an observer, or no DKG output yet).
    #[serde(default)]
    pub share: String,
    pub digest: String,
    pub ops: u64,
    /// Ops held in memory (fewer than `ops` once checkpoints compacted the ledger).
    #[serde(default)]
    pub held: usize,
    /// Presence ops compaction removed in this life.
    #[serde(default)]
    pub pruned: u64,
    /// Records and bytes in the op store.
    #[serde(default)]
    pub store_records: u64,
    #[serde(default)]
    pub store_bytes: u64,
    /// Rewrites the op store went through (its generation).
    #[serde(default)]
    pub store_generation: u64,
    /// What the op store held at open: fresh, intact, truncated, lost or unverified.
    #[serde(default)]
    pub store_state: String,
    /// Whether the node authors ops ("yes"), or why not.
    #[serde(default)]
    pub authoring: String,
    pub heads: Vec<String>,
    pub pending: usize,
    /// Of `pending`, the ops stranded on a fork of an applied seq.
    #[serde(default)]
    pub stranded: usize,
    pub evicted: u64,
    pub flagged: Vec<String>,
    pub boot_recovered: bool,
    pub peers: Vec<PeerJson>,
    #[serde(default)]
    pub checkpoint: Option<CheckpointStatusJson>,
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

#[derive(Deserialize)]
struct CheckpointsQuery {
    subject: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    crate::hex::encode(bytes)
}

fn checkpoint_status_json(status: checkpoint::Status) -> CheckpointStatusJson {
    CheckpointStatusJson {
        ready: status.ready,
        voting_round: status.voting.map(|(round, _)| round),
        voting_approvals: status.voting.map(|(_, approvals)| approvals),
        next_due_ms: status.next_due_ms,
        certified: status.certified,
        rounds_failed: status.rounds_failed,
    }
}

/// The checkpoints of `ops` (starting at ledger position `after`) by `subject` if given,
/// each re-verified under the node's group key.
fn checkpoints_json(
    ops: &[(u64, SignedOp)],
    subject: Option<&[u8]>,
    keys: &Keys,
) -> Vec<CheckpointJson> {
    let group_key = keys.current().map(|c| *c.output.public().public());
    ops.iter()
        .filter_map(|(position, op)| {
            let OpKind::Checkpoint(c) = &op.op().kind else {
                return None;
            };
            if subject.is_some_and(|s| s != op.op().author.as_slice()) {
                return None;
            }
            let id = c.id(op.op().author);
            Some(CheckpointJson {
                position: *position,
                subject: hex(&op.op().author),
                id: hex(&id),
                previous: c.previous.as_ref().map(|p| hex(p)),
                round: c.round,
                as_of_ms: c.as_of_ms,
                restarts: c.observation.restarts,
                uptime_ms: c.observation.uptime_ms,
                first_seen_ms: c.observation.first_seen_ms,
                verified: group_key.as_ref().is_some_and(|key| {
                    tally::verify(key, CERTIFICATE_NAMESPACE, &id, &c.signature)
                }),
            })
        })
        .collect()
}

fn status_json(name: &str, status: Status, keys: &Keys) -> StatusJson {
    let dkg = keys.current();
    StatusJson {
        node: name.to_string(),
        identity: hex(status.me.as_ref()),
        epoch: dkg.as_ref().map(|d| d.epoch),
        group_key: dkg.as_ref().map(|d| d.group_key_hex()),
        share: match &dkg {
            Some(d) if d.share.is_some() => "held",
            Some(d) if d.output.players().position(&status.me).is_some() => "missing",
            _ => "none",
        }
        .to_string(),
        digest: hex(status.digest.as_ref()),
        ops: status.ops,
        held: status.held,
        pruned: status.pruned,
        store_records: status.store_records,
        store_bytes: status.store_bytes,
        store_generation: status.store_generation,
        store_state: status.store_state.to_string(),
        authoring: match &status.authoring {
            Ok(()) => "yes".to_string(),
            Err(why) => why.clone(),
        },
        heads: status.heads.iter().map(|h| hex(h.as_ref())).collect(),
        pending: status.pending,
        stranded: status.stranded,
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
        checkpoint: None,
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
        OpKind::Propose(p) => ("propose", Some(p.epoch), Some(hex(&p.digest()))),
        OpKind::Vote { proposal, .. } => ("vote", None, Some(hex(proposal.as_ref()))),
        OpKind::Certify { proposal, .. } => ("certify", None, Some(hex(proposal.as_ref()))),
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

/// The admin API of the node `name`, answering from its ledger's mailbox, its DKG result and
/// its checkpoint actor (if it runs one).
pub fn router(
    name: String,
    mailbox: Mailbox,
    keys: Keys,
    checkpoints: Option<checkpoint::Mailbox>,
    governance: Option<governance::Mailbox>,
) -> axum::Router {
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
        checkpoints: Option<checkpoint::Mailbox>,
        governance: Option<governance::Mailbox>,
    }

    /// The governance actor, or the 404 of a node that runs none.
    #[allow(clippy::result_large_err)]
    fn governance_of(app: &App) -> Result<governance::Mailbox, Response> {
        app.governance.clone().ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                "governance is off in this node's config",
            )
                .into_response()
        })
    }

    fn refused(e: governance::Error) -> Response {
        let code = StatusCode::from_u16(committee::error_status(&e))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, e.to_string()).into_response()
    }

    async fn committee_status(State(app): State<App>) -> Response {
        let mut governance = match governance_of(&app) {
            Ok(g) => g,
            Err(response) => return response,
        };
        match governance.status().await {
            Ok(status) => Json(committee::status_json(status)).into_response(),
            Err(e) => refused(e),
        }
    }

    async fn propose(State(app): State<App>, body: Bytes) -> Response {
        let mut governance = match governance_of(&app) {
            Ok(g) => g,
            Err(response) => return response,
        };
        let request: committee::ProposeJson = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
        let (change, reason) = match request.change() {
            Ok(c) => c,
            Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
        };
        match governance.propose(change, reason).await {
            Ok(proposed) => Json(committee::proposed_json(&proposed)).into_response(),
            Err(e) => refused(e),
        }
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
        let mut json = match mailbox.status().await {
            Ok(status) => status_json(&app.name, status, &app.keys),
            Err(e) => return unavailable(e),
        };
        if let Some(mut checkpoints) = app.checkpoints.clone() {
            json.checkpoint = checkpoints.status().await.ok().map(checkpoint_status_json);
        }
        Json(json).into_response()
    }

    async fn list_checkpoints(
        State(app): State<App>,
        Query(query): Query<CheckpointsQuery>,
    ) -> Response {
        let subject = match query.subject.as_deref().map(crate::hex::decode) {
            None => None,
            Some(Some(bytes)) if bytes.len() == 32 => Some(bytes),
            Some(_) => {
                return (StatusCode::BAD_REQUEST, "subject must be 32 bytes of hex")
                    .into_response();
            }
        };
        let mut mailbox = app.mailbox.clone();
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let (ops, next) = match mailbox.ops(after, MAX_OPS_PER_PAGE).await {
                Ok(page) => page,
                Err(e) => return unavailable(e),
            };
            if ops.is_empty() {
                break;
            }
            out.extend(checkpoints_json(&ops, subject.as_deref(), &app.keys));
            if out.len() > MAX_CHECKPOINTS {
                break;
            }
            after = next;
        }
        let truncated = out.len() > MAX_CHECKPOINTS;
        out.truncate(MAX_CHECKPOINTS);
        Json(CheckpointsJson {
            checkpoints: out,
            truncated,
        })
        .into_response()
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
                    .map(|(position, op)| op_json(*position, op))
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
        .route("/checkpoints", get(list_checkpoints))
        .route("/committee", get(committee_status).post(propose))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_DATA_BYTES + 1))
        .with_state(App {
            name,
            mailbox,
            keys,
            checkpoints,
            governance,
        })
}

/// `GET /committee` of the node whose admin API is at `addr`.
pub fn get_committee(addr: SocketAddr) -> Result<committee::GovernanceJson, String> {
    let text = body(agent().get(format!("http://{addr}/committee")).call())?;
    serde_json::from_str(&text).map_err(|e| format!("bad /committee answer: {e}"))
}

/// `POST /committee` to the node whose admin API is at `addr`.
pub fn propose(
    addr: SocketAddr,
    request: &committee::ProposeJson,
) -> Result<committee::ProposedJson, String> {
    let json = serde_json::to_string(request).map_err(|e| e.to_string())?;
    let text = body(
        agent()
            .post(format!("http://{addr}/committee"))
            .header("content-type", "application/json")
            .send(json.as_bytes()),
    )?;
    serde_json::from_str(&text).map_err(|e| format!("bad /committee answer: {e}"))
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

/// `GET /checkpoints` of the node whose admin API is at `addr` (of `subject`, hex, if given).
pub fn get_checkpoints(addr: SocketAddr, subject: Option<&str>) -> Result<CheckpointsJson, String> {
    let query = subject.map_or(String::new(), |s| format!("?subject={s}"));
    let text = body(
        agent()
            .get(format!("http://{addr}/checkpoints{query}"))
            .call(),
    )?;
    serde_json::from_str(&text).map_err(|e| format!("bad /checkpoints answer: {e}"))
}

/// The checkpoints as a table, one line each.
pub fn checkpoints_table(list: &CheckpointsJson) -> String {
    let mut out = format!(
        "{:<16} {:>5} {:>15} {:>8} {:>12} {:>15} {:>8} {:<16}\n",
        "subject", "round", "as_of_ms", "restarts", "uptime_s", "first_seen_ms", "verified", "id"
    );
    for c in &list.checkpoints {
        out.push_str(&format!(
            "{:<16} {:>5} {:>15} {:>8} {:>12.1} {:>15} {:>8} {:<16}\n",
            &c.subject[..16.min(c.subject.len())],
            c.round,
            c.as_of_ms,
            c.restarts,
            c.uptime_ms as f64 / 1000.0,
            c.first_seen_ms,
            if c.verified { "yes" } else { "NO" },
            &c.id[..16.min(c.id.len())],
        ));
    }
    if list.truncated {
        out.push_str(&format!("(only the first {MAX_CHECKPOINTS} are shown)\n"));
    }
    out.pop();
    out
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
