//! The barrier actor: runs [`State`] on a runtime context and a p2p channel.
//!
//! One loop selects over local requests, network frames and the sync tick. After each input it
//! flushes the state machine's outputs (sends, blocks, events) and settles waiters: a waiter
//! returns `Ok` when its condition holds, the recorded error as soon as there is one, and a
//! timeout error naming the missing peers at its deadline. Deadlines are checked on every pass
//! and at least every sync period, so no waiter outlives its deadline by more than one period.
//!
//! The actor exits when every [`Mailbox`] is dropped or the runtime stops; waiters still queued
//! then get [`BarrierError::Stopped`] (their reply channel closes).

use super::{
    ingress::{Mailbox, Request},
    state::{BarrierError, Condition, Config as StateConfig, Outputs, State},
    wire,
};
use crate::{
    cluster::{Cluster, PublicKey},
    trace::{Event, Tracer},
};
use commonware_codec::Encode as _;
use commonware_cryptography::ed25519;
use commonware_macros::select_loop;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{
    Clock, ContextCell, Handle, Metrics, Spawner, spawn_cell,
    telemetry::metrics::{
        Registered,
        raw::{Counter, Gauge},
    },
};
use futures::{
    StreamExt as _,
    channel::{mpsc, oneshot},
};
use rand_core::CryptoRng;
use std::time::SystemTime;

/// Configuration of the barrier actor.
#[derive(Clone)]
pub struct Config<T: Tracer> {
    /// This node's identity key (signs hellos).
    pub signer: ed25519::PrivateKey,
    /// The cluster definition.
    pub cluster: Cluster,
    /// The highest step any member may announce.
    pub max_step: u64,
    /// The step to resume at after a restart (the last one recorded before it was announced).
    pub resume_step: u64,
    /// Length of an attempt block (0: none); see [`super::state::Config::block`].
    pub block: u64,
    /// Unanswered hellos after which a peer is reported unresponsive.
    pub unresponsive_after: u32,
    /// Quorum mode: a peer's recorded fault is its own (it counts as absent in quorum waits,
    /// and setting our step goes on); waits for every member still return it.
    pub quorum_mode: bool,
    /// Catch-up mode: strangers with a valid hello are told to catch up, not blocked (see
    /// [`super::state::Config::catch_up`]).
    pub catch_up: bool,
    /// Checks hello signatures ([`crate::verify`]).
    pub verifier: crate::verify::Verifier,
    /// How long a peer's recorded fault lasts (see [`super::state::Config::fault_expiry`]).
    pub fault_expiry: Option<std::time::Duration>,
    /// Capacity of the mailbox.
    pub mailbox_size: usize,
    /// Where protocol events go.
    pub tracer: T,
}

struct Waiter {
    condition: Condition,
    deadline: SystemTime,
    reply: oneshot::Sender<Result<(), BarrierError>>,
}

struct BarrierMetrics {
    step: Registered<Gauge>,
    connected: Registered<Gauge>,
    received: Registered<Counter>,
    sent: Registered<Counter>,
    invalid: Registered<Counter>,
    blocked: Registered<Counter>,
    failed: Registered<Gauge>,
}

impl BarrierMetrics {
    fn new(context: &impl Metrics) -> Self {
        Self {
            step: context.register("step", "this node's barrier step", Gauge::default()),
            connected: context.register(
                "connected_peers",
                "peers with both session directions open",
                Gauge::default(),
            ),
            received: context.register("messages_received", "barrier frames received", Counter::default()),
            sent: context.register("messages_sent", "barrier messages sent", Counter::default()),
            invalid: context.register(
                "inputs_rejected",
                "barrier frames dropped: undecodable, oversized, non-member, refused hello or step violation",
                Counter::default(),
            ),
            blocked: context.register("peers_blocked", "peers blocked by the barrier", Counter::default()),
            failed: context.register("failed", "1 once the barrier recorded an error", Gauge::default()),
        }
    }
}

/// The barrier actor.
pub struct Actor<E, T>
where
    E: Clock + Spawner + Metrics + CryptoRng,
    T: Tracer,
{
    context: ContextCell<E>,
    state: State,
    tracer: T,
    requests: mpsc::Receiver<Request>,
    waiters: Vec<Waiter>,
    metrics: BarrierMetrics,
    sync_period: std::time::Duration,
    quorum_mode: bool,
}

impl<E, T> Actor<E, T>
where
    E: Clock + Spawner + Metrics + CryptoRng,
    T: Tracer,
{
    /// Builds the actor and its mailbox. Nothing runs until [`Actor::start`].
    pub fn new(mut context: E, cfg: Config<T>) -> (Self, Mailbox) {
        let timing = *cfg.cluster.timing();
        let now = context.current();
        let state = State::new(
            cfg.signer,
            &cfg.cluster,
            StateConfig {
                sync_period: timing.sync_period,
                reconnect_cap: timing.reconnect_cap,
                unresponsive_after: cfg.unresponsive_after,
                max_step: cfg.max_step,
                resume_step: cfg.resume_step,
                block: cfg.block,
                quorum_mode: cfg.quorum_mode,
                catch_up: cfg.catch_up,
                fault_expiry: cfg.fault_expiry,
                verifier: cfg.verifier.clone(),
            },
            now,
            &mut context,
        );
        let (sender, requests) = mpsc::channel(cfg.mailbox_size);
        let metrics = BarrierMetrics::new(&context);
        (
            Self {
                context: ContextCell::new(context),
                state,
                tracer: cfg.tracer,
                requests,
                waiters: Vec::new(),
                metrics,
                sync_period: timing.sync_period,
                quorum_mode: cfg.quorum_mode,
            },
            Mailbox::new(sender),
        )
    }

    /// Runs the actor on the barrier channel.
    pub fn start<S, R, B>(mut self, sender: S, receiver: R, blocker: B) -> Handle<()>
    where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey>,
    {
        spawn_cell!(self.context, async move {
            self.run(sender, receiver, blocker).await
        })
    }

    async fn run<S, R, B>(mut self, mut sender: S, mut receiver: R, mut blocker: B)
    where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey>,
    {
        let mut next_tick = self.context.current();
        select_loop! {
            self.context,
            on_start => {
                let tick = self.context.sleep_until(next_tick);
                let mut out = Outputs::default();
            },
            on_stopped => {},
            _ = tick => {
                let now = self.context.current();
                self.state.on_tick(now, &mut *self.context, &mut out);
                next_tick = now + self.sync_period;
            },
            request = self.requests.next() => {
                let Some(request) = request else { break };
                self.on_request(request, &mut out);
            },
            frame = receiver.recv() => {
                let Ok((peer, frame)) = frame else { break };
                self.metrics.received.inc();
                match wire::decode(frame) {
                    Ok(message) => {
                        tracing::trace!(me = %self.state.me(), %peer, ?message, "barrier recv");
                        let now = self.context.current();
                        self.state.on_message(now, &mut *self.context, &peer, message, &mut out);
                    }
                    Err(err) => {
                        let now = self.context.current();
                        self.state.on_undecodable(now, &peer, err.to_string(), &mut out)
                    }
                }
            },
            on_end => {
                self.flush(out, &mut sender, &mut blocker);
                self.settle();
            },
        }
    }

    fn on_request(&mut self, request: Request, out: &mut Outputs) {
        let now = self.context.current();
        match request {
            Request::SetStep { step, reply } => {
                // In quorum mode a faulty peer does not stop us from moving on (the ceremony's
                // own waits decide what its absence means).
                let error = if self.quorum_mode {
                    None
                } else {
                    self.state.error()
                };
                let result = match error {
                    Some(error) => Err(error.clone()),
                    None => self.state.set_step(step, out),
                };
                let _ = reply.send(result);
            }
            Request::Await {
                condition,
                timeout,
                reply,
            } => self.waiters.push(Waiter {
                condition,
                deadline: now + timeout,
                reply,
            }),
            Request::Shutdown { timeout, reply } => {
                self.state.announce_shutdown(out);
                self.waiters.push(Waiter {
                    condition: Condition::ShutdownAcknowledged,
                    deadline: now + timeout,
                    reply,
                });
            }
            Request::Status { reply } => {
                let _ = reply.send(self.state.status());
            }
            Request::AddMembers { members, reply } => {
                self.state.add_members(&members, now, &mut *self.context);
                let _ = reply.send(());
            }
        }
    }

    fn flush<S, B>(&mut self, out: Outputs, sender: &mut S, blocker: &mut B)
    where
        S: Sender<PublicKey = PublicKey>,
        B: Blocker<PublicKey = PublicKey>,
    {
        for (peer, message) in out.sends {
            tracing::trace!(me = %self.state.me(), %peer, ?message, "barrier send");
            sender.send(Recipients::One(peer), message.encode(), false);
            self.metrics.sent.inc();
        }
        for peer in out.blocks {
            self.metrics.blocked.inc();
            commonware_p2p::block!(blocker, peer, "barrier: peer proved misbehaviour");
        }
        for event in out.events {
            match &event {
                Event::InputRejected { .. } => {
                    self.metrics.invalid.inc();
                }
                Event::BarrierFailed { .. } => {
                    self.metrics.failed.set(1);
                }
                _ => {}
            }
            self.tracer.record(event);
        }
        let status = self.state.status();
        self.metrics.step.set(status.step as i64);
        self.metrics
            .connected
            .set(status.peers.iter().filter(|p| p.connected).count() as i64);
    }

    /// Answers every waiter whose outcome is known.
    fn settle(&mut self) {
        let now = self.context.current();
        let state = &self.state;
        let mut pending = Vec::with_capacity(self.waiters.len());
        for waiter in self.waiters.drain(..) {
            let error = match waiter.condition {
                Condition::QuorumAtStep(_, quorum) => state.quorum_error(quorum),
                _ => state.error(),
            };
            if let Some(error) = error {
                let _ = waiter.reply.send(Err(error.clone()));
                continue;
            }
            let missing = state.missing(waiter.condition);
            if missing.is_empty() {
                let _ = waiter.reply.send(Ok(()));
            } else if now >= waiter.deadline {
                let _ = waiter.reply.send(Err(BarrierError::Timeout {
                    what: waiter.condition.to_string(),
                    missing,
                }));
            } else {
                pending.push(waiter);
            }
        }
        self.waiters = pending;
    }
}
