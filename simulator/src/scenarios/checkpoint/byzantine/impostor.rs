//! The impostor: every proposal check, proposes a checkpoint about another member (its view of
//! that member, signed with the impostor's own key) to every member. Only a subject proposes
//! about itself: each such proposal proves the impostor hostile and gets it blocked. It votes on
//! the others' proposals as an honest member would.

use super::liar::{Input, Liar, millis};
use cohort_protocol::checkpoint::wire::{Message, PROPOSAL_NAMESPACE, Proposal, SignedProposal};
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::{Clock as _, deterministic};
use rand::RngExt as _;

pub async fn run(context: deterministic::Context, mut liar: Liar) {
    let mut next = context.current() + liar.settings.check;
    loop {
        match liar.next(&context, next).await {
            Input::Closed => return,
            Input::Proposal(peer, signed) => {
                liar.vote_honestly(&context, &peer, &signed).await;
            }
            Input::Vote(..) => {}
            Input::Tick => {
                next = context.current() + liar.settings.check;
                let others = liar.others();
                let victim = others[liar.rng.random_range(0..others.len())].clone();
                let within = liar.settings.online_within;
                let Some(Ok(Some(view))) = (match liar.ledger.as_mut() {
                    Some(ledger) => Some(ledger.view(victim.clone(), u64::MAX, within).await),
                    None => None,
                }) else {
                    continue;
                };
                let Some(observation) = view.observation else {
                    continue;
                };
                let mut subject = [0u8; 32];
                subject.copy_from_slice(victim.as_ref());
                let proposal = Proposal {
                    subject,
                    round: 1,
                    as_of_ms: view.newest_ms.unwrap_or(millis(context.current())),
                    observation,
                    previous: view.latest.map(|(id, _)| id),
                };
                let signature = liar.key.sign(PROPOSAL_NAMESPACE, &proposal.encode());
                let frame = Message::Proposal(SignedProposal {
                    proposal,
                    signature,
                })
                .encode();
                liar.send(others.clone(), frame);
                liar.hostile(context.current(), 1);
            }
        }
    }
}
