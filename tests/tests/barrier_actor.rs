//! The barrier actor on the deterministic runtime and the simulated network: waits are bounded
//! and name who is missing, calls work before start and fail cleanly after stop, hostile frames
//! are counted and their sender blocked, and the real engine walks a cluster to the end.

use cohort_protocol::{
    Channel, Cluster, Event, PROTOCOL_VERSION, Timing,
    barrier::{self, BarrierError},
    channels::{Registrar as _, SimulatedRegistrar},
};
use cohort_tests::{Recorder, full_mesh};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_macros::select;
use commonware_p2p::{Recipients, Sender as _, simulated};
use commonware_runtime::{
    Clock as _, Handle, Metrics as _, Quota, Runner as _, Spawner as _, Supervisor as _,
    deterministic,
};
use commonware_utils::NZU32;
use std::time::Duration;

fn keys(n: u64) -> Vec<ed25519::PrivateKey> {
    (0..n).map(ed25519::PrivateKey::from_seed).collect()
}

fn cluster(keys: &[ed25519::PrivateKey]) -> Cluster {
    Cluster::new(
        keys.iter().map(|k| k.public_key()).collect(),
        keys.len() as u32,
        PROTOCOL_VERSION,
        Timing::default(),
    )
    .unwrap()
}

async fn network(
    context: &deterministic::Context,
    keys: &[ed25519::PrivateKey],
) -> simulated::Oracle<ed25519::PublicKey, deterministic::Context> {
    let members: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
    full_mesh(context, &members, Duration::from_millis(5)).await
}

/// Registers `key` on the barrier channel and runs `actor` there.
async fn start(
    oracle: &simulated::Oracle<ed25519::PublicKey, deterministic::Context>,
    key: &ed25519::PrivateKey,
    actor: barrier::Actor<deterministic::Context, Recorder>,
) -> Handle<()> {
    let control = oracle.control(key.public_key());
    let mut registrar = SimulatedRegistrar {
        control: control.clone(),
        quota: Quota::per_second(NZU32!(100)),
    };
    let channel = registrar.register(Channel::Barrier).await;
    actor.start(channel.sender, channel.receiver, control)
}

fn actor_config(
    key: &ed25519::PrivateKey,
    cluster: &Cluster,
    tracer: Recorder,
) -> barrier::Config<Recorder> {
    barrier::Config {
        signer: key.clone(),
        cluster: cluster.clone(),
        max_step: 10,
        resume_step: 0,
        block: 0,
        quorum_mode: false,
        catch_up: false,
        fault_expiry: None,
        verifier: Default::default(),
        unresponsive_after: 4,
        mailbox_size: 64,
        tracer,
    }
}

#[test]
fn waits_are_bounded_and_name_the_missing_peer() {
    deterministic::Runner::seeded(1).start(|context| async move {
        let keys = keys(3);
        let cluster = cluster(&keys);
        let oracle = network(&context, &keys).await;
        // Node 2 never starts.
        let mut mailboxes = Vec::new();
        for key in &keys[..2] {
            let (actor, mailbox) = barrier::Actor::new(
                context.child("barrier"),
                actor_config(key, &cluster, Recorder::default()),
            );
            start(&oracle, key, actor).await;
            mailboxes.push(mailbox);
        }
        let start = context.current();
        let result = mailboxes[0]
            .await_all_connected(Duration::from_secs(2))
            .await;
        let waited = context.current().duration_since(start).unwrap();
        match result {
            Err(BarrierError::Timeout { missing, .. }) => {
                assert_eq!(missing, vec![keys[2].public_key()])
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // Within one sync period of the deadline.
        assert!(waited >= Duration::from_secs(2) && waited <= Duration::from_millis(2_200));
        // Metrics are registered under the context's label.
        assert!(context.encode().contains("barrier_step"));
    });
}

#[test]
fn calls_before_start_queue_and_calls_after_stop_fail_cleanly() {
    deterministic::Runner::seeded(2).start(|context| async move {
        let keys = keys(2);
        let cluster = cluster(&keys);
        let oracle = network(&context, &keys).await;
        let mut actors = Vec::new();
        let mut mailboxes = Vec::new();
        for key in &keys {
            let (actor, mailbox) = barrier::Actor::new(
                context.child("barrier"),
                actor_config(key, &cluster, Recorder::default()),
            );
            actors.push(actor);
            mailboxes.push(mailbox);
        }
        // Ask before anything runs.
        let mut early = mailboxes[0].clone();
        let waiter = context
            .child("waiter")
            .spawn(move |_| async move { early.await_all_connected(Duration::from_secs(5)).await });
        let mut handles = Vec::new();
        for (key, actor) in keys.iter().zip(actors) {
            handles.push(start(&oracle, key, actor).await);
        }
        assert_eq!(waiter.await.unwrap(), Ok(()));
        // Walk two steps together.
        for step in 1..=2 {
            for mailbox in &mut mailboxes {
                mailbox.set_step(step).await.unwrap();
            }
            for mailbox in &mut mailboxes {
                mailbox
                    .await_all_at_step(step, Duration::from_secs(5))
                    .await
                    .unwrap();
            }
        }
        // Stopping: the actor exits once every mailbox is gone; a kept clone then sees Stopped.
        let mut kept = mailboxes[0].clone();
        handles[0].abort();
        let _ = context.sleep(Duration::from_millis(10)).await;
        assert_eq!(kept.set_step(3).await, Err(BarrierError::Stopped));
        assert_eq!(
            kept.await_all_shutdown(Duration::from_secs(1)).await,
            Err(BarrierError::Stopped)
        );
    });
}

#[test]
fn hostile_frames_are_counted_and_the_sender_blocked() {
    deterministic::Runner::seeded(3).start(|context| async move {
        let keys = keys(2);
        let cluster = cluster(&keys);
        let oracle = network(&context, &keys).await;
        let recorder = Recorder::default();
        let (actor, mut mailbox) = barrier::Actor::new(
            context.child("barrier"),
            actor_config(&keys[0], &cluster, recorder.clone()),
        );
        start(&oracle, &keys[0], actor).await;
        // Node 1 is a hostile member: it sends an oversized frame of garbage.
        let mut hostile = SimulatedRegistrar {
            control: oracle.control(keys[1].public_key()),
            quota: Quota::per_second(NZU32!(100)),
        }
        .register(Channel::Barrier)
        .await;
        hostile.sender.send(
            Recipients::One(keys[0].public_key()),
            vec![0xffu8; 4096],
            false,
        );
        let result = select! {
            result = mailbox.await_all_connected(Duration::from_secs(10)) => result,
            _ = context.sleep(Duration::from_secs(20)) => panic!("wait outlived its deadline"),
        };
        assert!(
            matches!(result, Err(BarrierError::NotProtocol { ref peer, .. }) if *peer == keys[1].public_key()),
            "{result:?}"
        );
        let blocked = oracle.blocked().await.unwrap();
        assert!(blocked.contains(&(keys[0].public_key(), keys[1].public_key())));
        assert!(recorder.events().iter().any(|e| matches!(
            e,
            Event::InputRejected { blocked: true, .. }
        )));
        assert!(context.encode().contains("barrier_inputs_rejected_total 1"));
    });
}
