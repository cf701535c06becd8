//! The inflater: proposes checkpoints about itself with an inflated uptime, on its own
//! schedule (one proposal an interval), alternately far outside the tolerance (ten times it:
//! every honest voter must disagree) and within it (half of it: honest voters approve, and the
//! liar appends what they certified). It votes on the others' proposals as an honest member
//! would, at once. A proposal outside the tolerance proves nothing against its author (its
//! view may differ), so nobody blocks it: the defence is that it is never certified.

use super::liar::{Input, Liar, TICK, millis};
use cohort_protocol::{
    PublicKey,
    checkpoint::{
        Counted, Observation, Tally,
        wire::{CERTIFICATE_NAMESPACE, Digest, Message, Proposal, SignedProposal},
    },
    ledger::op::Certified,
};
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, deterministic};
use std::time::SystemTime;

/// The liar's open proposal.
struct Own {
    proposal: Proposal,
    frame: bytes::Bytes,
    digest: Digest,
    tally: Tally,
    players: Vec<PublicKey>,
    deadline: SystemTime,
}

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    let me = liar.key.public_key();
    let mut own: Option<Own> = None;
    let mut proposals = 0u64;
    let mut retry_after_ms = 0u64;
    let mut next_resend = context.current();
    loop {
        let tick = context.current() + TICK;
        match liar.next(&context, tick).await {
            Input::Closed => return,
            Input::Proposal(peer, signed) => {
                liar.vote_honestly(&context, &peer, &signed).await;
            }
            Input::Vote(peer, vote) => {
                let Some(open) = own.as_mut().filter(|o| o.digest == vote.digest) else {
                    continue;
                };
                if vote.voter != peer.as_ref() || !vote.verify(&peer) {
                    continue;
                }
                let index = open.players.iter().position(|p| *p == peer);
                if let Ok(Counted::Approval { .. }) =
                    open.tally.add(index.map(|i| i as u32), vote.vote)
                    && let Some(signature) = open.tally.certificate()
                {
                    let open = own.take().expect("open");
                    let certified = Certified {
                        round: open.proposal.round,
                        as_of_ms: open.proposal.as_of_ms,
                        observation: open.proposal.observation,
                        previous: open.proposal.previous,
                        signature,
                    };
                    let ledger = liar.ledger.as_mut().expect("a member's ledger");
                    if ledger.append_checkpoint(certified).await.is_ok() {
                        liar.report.lock().expect("liar report").certified += 1;
                    }
                }
            }
            Input::Tick => {
                let now = context.current();
                let now_ms = millis(now);
                let interval = liar.settings.interval.as_millis() as u64;
                if own.as_ref().is_some_and(|o| now >= o.deadline) {
                    own = None;
                    retry_after_ms = now_ms + interval;
                }
                if let Some(open) = &own {
                    if now >= next_resend {
                        next_resend = now + liar.settings.resend;
                        let missing: Vec<PublicKey> = open
                            .players
                            .iter()
                            .enumerate()
                            .filter(|(i, p)| **p != me && !open.tally.has_voted(*i as u32))
                            .map(|(_, p)| p.clone())
                            .collect();
                        let frame = open.frame.clone();
                        liar.send(missing, frame);
                    }
                    continue;
                }
                let (Some(completed), Some(ledger)) = (liar.completed(), liar.ledger.as_mut())
                else {
                    continue;
                };
                let within = liar.settings.online_within;
                let Ok(Some(view)) = ledger.view(me.clone(), u64::MAX, within).await else {
                    continue;
                };
                let (Some(seen), Some(as_of_ms), true) =
                    (view.observation, view.newest_ms, view.boot_recovered)
                else {
                    continue;
                };
                let due = view
                    .latest
                    .map_or(seen.first_seen_ms, |(_, as_of)| as_of)
                    .saturating_add(interval)
                    .max(retry_after_ms);
                if now_ms < due {
                    continue;
                }
                let tolerance = liar.settings.tolerance.uptime_ms;
                let inflation = match proposals % 2 {
                    0 => 10 * tolerance,
                    _ => tolerance / 2,
                };
                proposals += 1;
                let proposal = Proposal {
                    subject: [0; 32],
                    round: 1,
                    as_of_ms,
                    observation: Observation {
                        uptime_ms: seen.uptime_ms + inflation,
                        ..seen
                    },
                    previous: view.latest.map(|(id, _)| id),
                };
                let signed = SignedProposal::sign(&liar.key, proposal);
                let digest = signed.proposal.digest();
                let players: Vec<PublicKey> = completed.output.players().iter().cloned().collect();
                let mut tally = Tally::new(
                    CERTIFICATE_NAMESPACE,
                    &digest,
                    completed.output.public().clone(),
                );
                let index = players.iter().position(|p| *p == me).map(|i| i as u32);
                if let Some(vote) = liar.partial(&digest) {
                    let _ = tally.add(index, vote);
                }
                let frame = Message::Proposal(signed.clone()).encode();
                liar.send(liar.others(), frame.clone());
                liar.report.lock().expect("liar report").proposals += 1;
                next_resend = now + liar.settings.resend;
                own = Some(Own {
                    proposal: signed.proposal,
                    frame,
                    digest,
                    tally,
                    players,
                    deadline: now + liar.settings.window,
                });
            }
        }
    }
}
