//! The node's p2p peer set follows the committee chain (issue 13).
//!
//! At start the set is the config's `[[peers]]` and the node itself. With governance, a joiner
//! is reachable only once the members know its address: a proposal that admits a key carries
//! its address (`--address` of `cohort committee propose --add`). Every [`REFRESH`] the node
//! reads its ledger's governance view and tracks a new peer set when it grew: the config's
//! peers, the addresses of every key the certified committees admitted, and those of the keys
//! the open proposals would admit (so a joiner can catch up *before* its admission is
//! certified, which is what lets it take part in the very reshare that admits it). A joiner
//! does the same, and so learns the other newcomers.
//!
//! Addresses come from signed ledger ops; one that does not parse as `host:port` (IP) is
//! skipped, and the set never exceeds the transport's per-set bound ([`MAX_PEERS`]). Keys are
//! never dropped from the set: a removed member still serves its ledger.

use cohort_protocol::{PublicKey, ledger};
use commonware_p2p::{Address, AddressableManager};
use commonware_runtime::Clock;
use commonware_utils::ordered::Map;
use std::{collections::BTreeMap, net::SocketAddr, time::Duration};
use tracing::{info, warn};

/// How often the peer set is compared with the chain.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Largest peer set tracked (the transport's per-set bound, this node included).
pub const MAX_PEERS: usize = cohort_protocol::cluster::MAX_MEMBERS + 16;

/// Every address the governance view `g` names: certified committees' newcomers, then the
/// open proposals' (a key keeps its first address).
pub fn chain_addresses(g: &ledger::Governance) -> BTreeMap<PublicKey, SocketAddr> {
    let mut out = BTreeMap::new();
    let joining = g
        .chain
        .known()
        .into_iter()
        .filter_map(|k| g.chain.address_of(&k).map(|a| (k, a.to_string())))
        .chain(g.proposals.iter().flat_map(|p| {
            p.proposal
                .joining
                .iter()
                .map(|j| (j.key.clone(), j.address.clone()))
        }));
    for (key, address) in joining {
        match address.parse::<SocketAddr>() {
            Ok(addr) => {
                out.entry(key).or_insert(addr);
            }
            Err(_) => warn!(%key, %address, "a joining member's address does not parse: skipped"),
        }
    }
    out
}

/// Tracks the peer set `base` (the config's peers and this node) grown by the chain's joining
/// addresses, for as long as the ledger runs. `next_index` is the first peer-set index free.
pub async fn follow<E, O>(
    context: E,
    mut ledger: ledger::Mailbox,
    mut oracle: O,
    base: BTreeMap<PublicKey, SocketAddr>,
    online_within: Duration,
    mut next_index: u64,
) where
    E: Clock,
    O: AddressableManager<PublicKey = PublicKey>,
{
    let mut tracked = base.clone();
    loop {
        context.sleep(REFRESH).await;
        let Ok(g) = ledger.governance(online_within).await else {
            return;
        };
        let mut wanted = tracked.clone();
        for (key, addr) in chain_addresses(&g) {
            if wanted.len() >= MAX_PEERS {
                break;
            }
            wanted.entry(key).or_insert(addr);
        }
        if wanted == tracked {
            continue;
        }
        let added: Vec<String> = wanted
            .keys()
            .filter(|k| !tracked.contains_key(*k))
            .map(|k| k.to_string())
            .collect();
        let Ok(set) = Map::try_from(
            wanted
                .iter()
                .map(|(k, a)| (k.clone(), Address::from(*a)))
                .collect::<Vec<_>>(),
        ) else {
            continue;
        };
        info!(
            index = next_index,
            peers = wanted.len(),
            ?added,
            "tracking the chain's members"
        );
        let _ = oracle.track(next_index, set);
        next_index += 1;
        tracked = wanted;
    }
}
