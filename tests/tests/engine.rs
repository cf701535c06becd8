//! The engine on the deterministic runtime: a member that starts late (after a whole phase
//! timeout, in a cluster that needs all three for a quorum) is reported missing, and the cluster
//! completes once it is there, with one group key; a restarted node loads its result instead of
//! running the ceremony again.

use cohort_protocol::{
    Cluster, Config, Engine, Event, PROTOCOL_VERSION, Timing, dkg::Keys, engine::Task,
};
use cohort_tests::{Recorder, channels, full_mesh};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_runtime::{Clock as _, Runner as _, Supervisor as _, deterministic};
use std::time::Duration;

#[test]
fn a_late_member_is_reported_missing_and_the_ceremony_completes_once_it_is_there() {
    deterministic::Runner::seeded(5).start(|context| async move {
        let keys: Vec<_> = (0..3).map(ed25519::PrivateKey::from_seed).collect();
        let members: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        let timing = Timing::default();
        let cluster = Cluster::new(members.clone(), 3, PROTOCOL_VERSION, timing).unwrap();
        let oracle = full_mesh(&context, &members, Duration::from_millis(10)).await;
        let recorders: Vec<Recorder> = (0..3).map(|_| Recorder::default()).collect();
        let mut handles = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if i == 2 {
                // The last member starts after a whole phase timeout.
                context
                    .sleep(timing.phase_timeout + Duration::from_secs(10))
                    .await;
            }
            let control = oracle.control(key.public_key());
            let engine = Engine::new(
                context.child("node").with_attribute("index", i),
                Config {
                    identity: key.clone(),
                    cluster: cluster.clone(),
                    partition_prefix: format!("node{i}"),
                    tracer: recorders[i].clone(),
                    task: Task::Dkg,
                    keys: Keys::default(),
                    ledger: None,
                    block_expiry: None,
                    verifier: Default::default(),
                },
            );
            handles.push(engine.start(channels(&control).await, control));
        }
        let mut group_keys = Vec::new();
        for handle in handles {
            let outcome = handle.await.unwrap().unwrap();
            assert_eq!(outcome.boot, 1);
            let dkg = outcome.dkg.expect("a DKG result");
            assert!(dkg.share.is_some());
            group_keys.push(dkg.group_key_hex());
        }
        assert!(group_keys.windows(2).all(|w| w[0] == w[1]));
        let early = recorders[0].events();
        assert!(early.iter().any(|e| matches!(
            e,
            Event::WaitingForPeers { missing } if missing.contains(&members[2])
        )));
        assert!(early.iter().any(|e| matches!(e, Event::DkgComplete { .. })));
        assert!(early.iter().any(
            |e| matches!(e, Event::DkgComplete { group_key, .. } if *group_key == group_keys[0])
        ));

        // A restart loads the result: same key, and no dealing or ack again.
        let restarted = Recorder::default();
        let keys_handle = Keys::default();
        let control = oracle.control(keys[0].public_key());
        let engine = Engine::new(
            context.child("restarted"),
            Config {
                identity: keys[0].clone(),
                cluster: cluster.clone(),
                partition_prefix: "node0".into(),
                tracer: restarted.clone(),
                task: Task::Dkg,
                keys: keys_handle.clone(),
                ledger: None,
                block_expiry: None,
                verifier: Default::default(),
            },
        );
        // Peers are gone: the handshake cannot finish, which is reported, not fatal.
        let outcome = engine
            .start(channels(&control).await, control)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.boot, 2);
        assert_eq!(outcome.dkg.unwrap().group_key_hex(), group_keys[0]);
        assert_eq!(
            keys_handle.current().unwrap().group_key_hex(),
            group_keys[0]
        );
        let events = restarted.events();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::Dealt { .. } | Event::Acked { .. }))
        );
    });
}
