//! The ledger through the engine on the deterministic runtime: a member that starts late waits
//! in `boot_recovered` until its first backfill round brought it the ops it missed; ops
//! submitted anywhere reach everyone; an oversized payload is refused; the admin reads page
//! through the whole ledger.

use bytes::Bytes;
use cohort_protocol::{
    Cluster, Config, Engine, PROTOCOL_VERSION, Timing,
    dkg::Keys,
    engine::Task,
    ledger::{Error, Mailbox, Settings, op::MAX_DATA_BYTES},
};
use cohort_tests::{Recorder, channels, full_mesh};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_macros::select;
use commonware_runtime::{Clock as _, Runner as _, Supervisor as _, deterministic};
use std::time::Duration;

#[test]
fn a_late_member_recovers_at_boot_and_everyone_converges() {
    deterministic::Runner::seeded(3).start(|context| async move {
        let keys: Vec<_> = (0..3).map(ed25519::PrivateKey::from_seed).collect();
        let members: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        let cluster =
            Cluster::new(members.clone(), 3, PROTOCOL_VERSION, Timing::default()).unwrap();
        let oracle = full_mesh(&context, &members, Duration::from_millis(10)).await;
        let start = |i: usize, context: &deterministic::Context| {
            let key: ed25519::PrivateKey = keys[i].clone();
            let cluster = cluster.clone();
            let oracle = oracle.clone();
            let context = context.child("node").with_attribute("index", i);
            async move {
                let control = oracle.control(key.public_key());
                let engine = Engine::new(
                    context,
                    Config {
                        identity: key,
                        cluster,
                        partition_prefix: format!("node{i}"),
                        tracer: Recorder::default(),
                        task: Task::Serve,
                        keys: Keys::default(),
                        ledger: Some(Settings::default()),
                        block_expiry: None,
                        verifier: Default::default(),
                    },
                );
                let mailbox = engine.ledger().expect("a ledger");
                let handle = engine.start(channels(&control).await, control);
                (mailbox, handle)
            }
        };
        let (mut a, _ha) = start(0, &context).await;
        let (mut b, _hb) = start(1, &context).await;
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(a.submit(Bytes::from(format!("op {i}"))).await.unwrap());
        }
        assert!(matches!(
            a.submit(Bytes::from(vec![0u8; MAX_DATA_BYTES + 1])).await,
            Err(Error::PayloadTooLarge(_))
        ));
        context.sleep(Duration::from_secs(2)).await;

        // The late member: its boot recovery completes once it holds what the others had.
        let (mut c, _hc) = start(2, &context).await;
        select! {
            recovered = c.boot_recovered() => recovered.unwrap(),
            _ = context.sleep(Duration::from_secs(30)) => panic!("no boot recovery within 30 s"),
        }
        let held = all_ids(&mut c).await;
        assert!(
            ids.iter().all(|id| held.contains(id)),
            "recovered without the submitted ops"
        );

        // Everyone converges on one digest.
        let until = context.current() + Duration::from_secs(30);
        loop {
            let (sa, sb, sc) = (
                a.status().await.unwrap(),
                b.status().await.unwrap(),
                c.status().await.unwrap(),
            );
            if sa.digest == sb.digest && sb.digest == sc.digest {
                // 20 Data ops and three Boot ops at least.
                assert!(sa.ops >= 23);
                assert!(sa.flagged.is_empty() && sa.pending == 0);
                assert!(sc.boot_recovered);
                break;
            }
            assert!(context.current() < until, "no convergence within 30 s");
            context.sleep(Duration::from_millis(50)).await;
        }
    });
}

/// Every op id a member holds, read in pages.
async fn all_ids(mailbox: &mut Mailbox) -> Vec<cohort_protocol::ledger::OpId> {
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let (ops, next) = mailbox.ops(after, 7).await.unwrap();
        if ops.is_empty() {
            return ids;
        }
        ids.extend(ops.iter().map(|(_, o)| o.id()));
        after = next;
    }
}
