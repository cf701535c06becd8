//! The engine on the deterministic runtime: a member that starts late (after a whole phase
//! timeout) is waited for and reported, and the cluster still completes its walk.

use cohort_protocol::{
    Channels, Cluster, Config, Engine, Event, PROTOCOL_VERSION, Timing, engine::BARRIER_CHANNEL,
};
use cohort_tests::{Recorder, full_mesh};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_runtime::{Clock as _, Quota, Runner as _, Supervisor as _, deterministic};
use commonware_utils::NZU32;
use std::time::Duration;

#[test]
fn a_late_member_is_waited_for_and_reported() {
    deterministic::Runner::seeded(5).start(|context| async move {
        let keys: Vec<_> = (0..3).map(ed25519::PrivateKey::from_seed).collect();
        let members: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        let timing = Timing::default();
        let cluster = Cluster::new(members.clone(), 2, PROTOCOL_VERSION, timing).unwrap();
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
            let (sender, receiver) = control
                .register(BARRIER_CHANNEL, Quota::per_second(NZU32!(100)))
                .await
                .unwrap();
            let engine = Engine::new(
                context.child("node").with_attribute("index", i),
                Config {
                    identity: key.clone(),
                    cluster: cluster.clone(),
                    partition_prefix: format!("node{i}"),
                    tracer: recorders[i].clone(),
                    walk_steps: 3,
                },
            );
            handles.push(engine.start(
                Channels {
                    barrier: (sender, receiver),
                },
                control,
            ));
        }
        for handle in handles {
            let outcome = handle.await.unwrap().unwrap();
            assert_eq!(outcome.steps, 3);
            assert_eq!(outcome.boot, 1);
        }
        let early = recorders[0].events();
        assert!(early.iter().any(|e| matches!(
            e,
            Event::WaitingForPeers { missing } if *missing == vec![members[2].clone()]
        )));
        assert!(
            early
                .iter()
                .any(|e| matches!(e, Event::WalkComplete { steps: 3 }))
        );
    });
}
