//! Joiners (issue 13): a node whose key is not in the genesis definition, started with that
//! definition, its key and at least one reachable member, with governance on.
//!
//! 1. **Catch up.** Its ledger runs as a candidate (it backfills from the genesis members and
//!    appends nothing; see `ledger::actor`). Members that have not applied its admission
//!    answer its barrier hellos with `CatchUp` and serve its backfill requests; nobody blocks
//!    it.
//! 2. **Learn the group key.** Certificates are verified under the group key, which a new
//!    node does not have (and which no reshare changes). It takes the proposals its ledger
//!    holds or has pending, highest epoch first (its checkpoints wait for the key, and governance ops may descend
//!    from them: [`ledger::Dag::unverified_proposals`]), asks its peers for the DKG output
//!    that proposal names (`previous`: the digest of the round and the encoded output, see
//!    [`committee::output_digest`]), and accepts the output only if the digest matches *and*
//!    the proposal's `Vote` ops (each signed by its voter's identity key, so no member can
//!    forge another's) hold `t` partial signatures that verify
//!    under that output's public polynomial, each from a distinct player of it
//!    ([`governance::count`]). `t` exceeds the fault bound, so at least one honest member,
//!    holding the real output, approved a proposal naming it: the output, and the group key in
//!    it, are the real ones. The ledger is given the key ([`ledger::Mailbox::set_group_key`])
//!    and from then on verifies certificates like any member.
//! 3. **Wait to be listed.** Once the chain lists it ([`Chain::cluster`]), the node is a
//!    member. Its DKG starts from the output of the epoch before the chain's last (fetched by
//!    the digest the last certified proposal binds, which its certificate vouches for) and
//!    runs the last epoch's reshare as a player; a reshare that already ran at the members
//!    is finished from their decision and decided logs (the share of a player that was absent
//!    at dealing time is revealed in them), as for any member that restarted late.
//!
//! A restarted joiner needs none of this once its DKG journal holds a finished epoch.
//!
//! Limits: the members answer with their current epoch's output and every earlier one their
//! process finished (kept in memory, [`dkg::Keys::outputs`]; a restart keeps only the
//! current one); a joiner that starts after every member restarted since the reshare it was
//! admitted in, and after a later epoch, has no output to start from until the next certified
//! committee names one. So has a second joiner whose key-learning needs the votes of a member
//! admitted after the genesis (which it cannot count before it has the key) when every member
//! restarted since the older epoch it falls back to.

use super::EngineError;
use crate::{
    cluster::{MAX_MEMBERS, PublicKey},
    committee::{self, Chain},
    dkg::{self, wire::Variant},
    governance, ledger,
    trace::Tracer,
};
use bytes::Bytes;
use commonware_codec::Decode as _;
use commonware_cryptography::bls12381::{
    dkg::feldman_desmedt::Output, primitives::sharing::ModeVersion,
};
use commonware_runtime::Clock;
use std::{collections::BTreeMap, num::NonZeroU32, time::Duration};

/// Decodes an output a peer sent, with this node's bounds.
fn decode(encoded: Bytes) -> Option<Output<Variant, PublicKey>> {
    let max = NonZeroU32::new(MAX_MEMBERS as u32).expect("non-zero");
    Output::<Variant, PublicKey>::decode_cfg(encoded, &(max, ModeVersion::v0())).ok()
}

/// Asks the peers for the output `digest` names, once; checks the digest of what comes back
/// (the ledger did) and decodes it.
async fn fetch(
    ledger: &mut ledger::Mailbox,
    digest: committee::Digest,
) -> Result<Option<(u64, Output<Variant, PublicKey>)>, EngineError> {
    let Some((round, encoded)) = ledger.fetch_output(digest).await? else {
        return Ok(None);
    };
    let Some(output) = decode(encoded) else {
        return Ok(None);
    };
    // Re-encoding must give the bytes whose digest matched (canonical encoding).
    if committee::output_digest(round, &output) != digest {
        return Ok(None);
    }
    Ok(Some((round, output)))
}

/// Whether `output` is vouched for by `proposal`'s votes: `t` of its players approved the
/// proposal with partials that verify under its public polynomial.
fn vouched(proposal: &ledger::Proposal, output: &Output<Variant, PublicKey>) -> bool {
    let players: Vec<PublicKey> = output.players().iter().cloned().collect();
    governance::count::count(proposal, output.public(), &players)
        .certificate
        .is_some()
}

/// Waits until the ledger's chain lists `me` (learning the group key on the way, see the
/// module docs); returns the chain.
pub(super) async fn admitted<E: Clock, T: Tracer>(
    context: &E,
    ledger: &mut ledger::Mailbox,
    me: &PublicKey,
    check: Duration,
    tracer: &T,
) -> Result<Chain, EngineError> {
    let mut announced = false;
    // Outputs fetched already, by digest (a proposal whose votes do not vouch for its output
    // yet may later: its ops come in).
    let mut fetched: BTreeMap<committee::Digest, Output<Variant, PublicKey>> = BTreeMap::new();
    loop {
        let g = ledger.governance(check).await?;
        if g.chain.cluster().is_member(me) {
            return Ok(g.chain);
        }
        if !g.group_key {
            // The group key never changes, so any proposal's output will do: the highest
            // epoch first (the latest output is the one the members still hold), but a
            // proposal whose voters this node cannot count yet (members admitted after the
            // genesis, whose ops wait for the key here) gives way to an older one.
            let mut candidates: Vec<&ledger::Proposal> = g.unverified.iter().collect();
            candidates.sort_by_key(|p| std::cmp::Reverse(p.proposal.epoch));
            if !announced && candidates.iter().any(|p| p.proposal.members.contains(me)) {
                announced = true;
                tracing::info!(%me, "a proposal lists us: learning the group key");
            }
            let mut learned = false;
            for proposal in candidates {
                let digest = proposal.proposal.previous;
                if !fetched.contains_key(&digest)
                    && let Some((_, output)) = fetch(ledger, digest).await?
                {
                    fetched.insert(digest, output);
                }
                if let Some(output) = fetched.get(&digest)
                    && vouched(proposal, output)
                {
                    tracer.record(crate::trace::Event::JoinerKeyLearned {
                        epoch: proposal.proposal.epoch,
                    });
                    ledger.set_group_key(*output.public().public()).await?;
                    learned = true;
                    break;
                }
            }
            if learned {
                continue;
            }
        }
        context.sleep(check).await;
    }
}

/// The starting point of a joiner's DKG: the output of the epoch before the chain's last,
/// fetched by the digest the last certified proposal binds (retried every `check`).
pub(super) async fn start<E: Clock>(
    context: &E,
    ledger: &mut ledger::Mailbox,
    chain: &Chain,
    check: Duration,
) -> Result<dkg::Completed, EngineError> {
    let epoch = chain.last_epoch();
    let Some(proposal) = chain.proposal(epoch) else {
        return Err(EngineError::NoJoinStart);
    };
    loop {
        if let Some((round, output)) = fetch(ledger, proposal.previous).await? {
            return Ok(dkg::Completed {
                epoch: epoch - 1,
                round,
                output,
                share: None,
            });
        }
        context.sleep(check).await;
    }
}
