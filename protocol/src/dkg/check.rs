//! Checks of a finished epoch that observers (the simulator, tests) run over the shares of all
//! players: each share matches the public polynomial, and any `t` partial signatures recover a
//! signature that verifies under the group key while `t - 1` do not.

use super::wire::Variant;
use commonware_cryptography::bls12381::primitives::{group::Share, ops, sharing::Sharing};
use commonware_parallel::Sequential;
use rand::{Rng, RngExt as _, seq::SliceRandom as _};

/// Namespace of the check's signatures.
const NAMESPACE: &[u8] = b"_COHORT_THRESHOLD_CHECK";

/// Why a check failed: the invariant's name and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub invariant: &'static str,
    pub detail: String,
}

fn fail(invariant: &'static str, detail: impl Into<String>) -> Failure {
    Failure {
        invariant,
        detail: detail.into(),
    }
}

/// Checks `shares` (every honest player's) against `sharing`, signing `message` and trying
/// `subsets` random quorums drawn from `rng`.
pub fn threshold(
    sharing: &Sharing<Variant>,
    shares: &[Share],
    message: &[u8],
    subsets: usize,
    rng: &mut impl Rng,
) -> Result<(), Failure> {
    for share in shares {
        let expected = sharing
            .partial_public(share.index)
            .map_err(|e| fail("share-consistent", format!("share {}: {e}", share.index)))?;
        if share.public::<Variant>() != expected {
            return Err(fail(
                "share-consistent",
                format!("share {} does not match the public polynomial", share.index),
            ));
        }
    }
    let t = sharing.required() as usize;
    let mut partials: Vec<_> = shares
        .iter()
        .map(|share| ops::threshold::sign_message::<Variant>(share, NAMESPACE, message))
        .collect();
    if partials.len() < t {
        return Err(fail(
            "threshold-recovers",
            format!("only {} shares for a threshold of {t}", partials.len()),
        ));
    }
    for _ in 0..subsets.max(1) {
        partials.shuffle(rng);
        let signature = ops::threshold::recover::<Variant, _>(sharing, &partials[..t], &Sequential)
            .map_err(|e| fail("threshold-recovers", format!("{t} partials: {e}")))?;
        ops::verify_message::<Variant>(sharing.public(), NAMESPACE, message, &signature).map_err(
            |e| {
                fail(
                    "threshold-recovers",
                    format!("recovered signature does not verify: {e}"),
                )
            },
        )?;
        let fewer = rng.random_range(0..t);
        if ops::threshold::recover::<Variant, _>(sharing, &partials[..fewer], &Sequential).is_ok() {
            return Err(fail(
                "fewer-than-t-fail",
                format!("{fewer} partials recovered a signature (threshold {t})"),
            ));
        }
    }
    Ok(())
}
