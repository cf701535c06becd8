//! A damaged store on the real (tokio) runtime: refused at open, never a hang.

use cohort_storage::ledger::OpStore;
use commonware_runtime::{Runner as _, Supervisor as _, tokio};
use std::time::Duration;

#[test]
fn a_garbage_header_does_not_hang_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    {
        let runner = tokio::Runner::new(tokio::Config::new().with_storage_directory(path.clone()));
        runner.start(|context| async move {
            let (mut store, _) = OpStore::open(context.child("a"), "n0", 1024).await.unwrap();
            for i in 0..100u64 {
                store
                    .append(&bytes::Bytes::from(vec![i as u8; 40]))
                    .await
                    .unwrap();
            }
            store.sync().await.unwrap();
        });
    }
    let section = path.join("n0-ops").join("0000000000000000");
    let mut data = std::fs::read(&section).unwrap();
    data[..16].copy_from_slice(b"GARBAGEGARBAGE!!");
    std::fs::write(&section, data).unwrap();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runner = tokio::Runner::new(tokio::Config::new().with_storage_directory(path));
        let outcome = runner.start(|context| async move {
            OpStore::open(context.child("b"), "n0", 1024)
                .await
                .map(|(_, records)| records.len())
                .map_err(|e| e.to_string())
        });
        let _ = done.send(outcome);
    });
    let outcome = result.recv_timeout(Duration::from_secs(20));
    println!("{outcome:?}");
    assert!(outcome.is_ok(), "the open hangs");
}
