//! `cohort-sim` as a user drives it: a printed plan file runs to the seed's digest, an edited
//! one runs and a failing one is saved with its replay command, bad plan files are refused
//! naming the field, and `explore --digests/--compare` catch a changed digest.

use std::{path::Path, process::Command};

fn sim(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cohort-sim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cohort-sim runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `digest=` of a run's last line.
fn digest(stdout: &str) -> String {
    let last = stdout.lines().last().expect("a summary line");
    last.split_whitespace()
        .find_map(|f| f.strip_prefix("digest="))
        .unwrap_or_else(|| panic!("no digest in {last:?}"))
        .to_string()
}

#[test]
fn a_printed_plan_runs_to_the_seeds_digest_and_an_edited_failing_one_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, out, err) = sim(
        &[
            "plan",
            "--scenario",
            "dkg",
            "--seed",
            "7",
            "--nodes",
            "4",
            "--out",
            "p.json",
        ],
        d,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, by_seed, err) = sim(
        &["run", "--scenario", "dkg", "--seed", "7", "--nodes", "4"],
        d,
    );
    assert_eq!(code, 0, "{by_seed}{err}");
    let (code, by_plan, err) = sim(&["run", "--plan", "p.json"], d);
    assert_eq!(code, 0, "{by_plan}{err}");
    assert_eq!(digest(&by_seed), digest(&by_plan));

    // Edited: every link loses everything. The run fails; its plan is saved and replays.
    let text = std::fs::read_to_string(d.join("p.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for link in value["plan"]["core"]["links"].as_array_mut().unwrap() {
        link["success_per_mille"] = 0.into();
    }
    std::fs::write(d.join("cut.json"), value.to_string()).unwrap();
    let (code, out, err) = sim(&["run", "--plan", "cut.json", "--failures", "saved"], d);
    assert_eq!(code, 1, "{out}{err}");
    let saved = d.join("saved/dkg-seed7-edited.plan.json");
    assert!(
        out.contains(&format!(
            "saved plan: {}",
            Path::new("saved/dkg-seed7-edited.plan.json").display()
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "replay the saved plan: cohort-sim run --plan saved/dkg-seed7-edited.plan.json"
        ),
        "{out}"
    );
    // An edited plan is not the seed's: no seed replay command is offered for it.
    assert!(
        !out.contains("  replay: cohort-sim run --scenario"),
        "{out}"
    );
    let (code, again, _) = sim(&["run", "--plan", saved.to_str().unwrap()], d);
    assert_eq!(code, 1);
    assert_eq!(digest(&out), digest(&again));
}

/// An edit of a plan file's JSON.
type Edit = fn(&mut serde_json::Value);

#[test]
fn bad_plan_files_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, _) = sim(
        &[
            "plan",
            "--scenario",
            "ledger",
            "--seed",
            "3",
            "--out",
            "p.json",
        ],
        d,
    );
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(d.join("p.json")).unwrap();
    let cases: [(&str, Edit); 3] = [
        ("plan.core.links[2].from: node 40 does not exist", |v| {
            v["plan"]["core"]["links"][2]["from"] = 40.into()
        }),
        ("unknown field `lossy`", |v| {
            v["plan"]["core"]["links"][0]["lossy"] = true.into()
        }),
        ("plan.core.late_starts[0].at_ms", |v| {
            v["plan"]["core"]["late_starts"] =
                serde_json::json!([{"node": 0, "at_ms": 999_999_999u64}])
        }),
    ];
    for (expected, edit) in cases {
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        edit(&mut value);
        std::fs::write(d.join("bad.json"), value.to_string()).unwrap();
        let (code, out, err) = sim(&["run", "--plan", "bad.json"], d);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
    let (code, _, err) = sim(&["run", "--plan", "missing.json"], d);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read plan file"), "{err}");
}

#[test]
fn explore_writes_digests_and_compare_fails_on_a_difference() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, out, err) = sim(
        &[
            "explore",
            "--scenario",
            "barrier",
            "--seeds",
            "1..=4",
            "--digests",
            "a.txt",
        ],
        d,
    );
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(d.join("a.txt")).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(text.starts_with("1 "));
    let (code, out, err) = sim(
        &[
            "explore",
            "--scenario",
            "barrier",
            "--seeds",
            "1..=4",
            "--jobs",
            "1",
            "--compare",
            "a.txt",
        ],
        d,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("compared 4 digests with a.txt: 0 differ"),
        "{out}"
    );
    // One digest changed: the comparison fails and names the seed.
    let changed: String = text
        .lines()
        .map(|l| {
            if l.starts_with("3 ") {
                "3 00ff\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(d.join("b.txt"), changed).unwrap();
    let (code, out, _) = sim(
        &[
            "explore",
            "--scenario",
            "barrier",
            "--seeds",
            "1..=4",
            "--compare",
            "b.txt",
        ],
        d,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("digest differs: seed 3: digest"), "{out}");
}

#[test]
fn crash_points_enumerate_every_moment_around_each_sync_and_each_crashes_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, out, err) = sim(
        &[
            "crash-points",
            "--scenario",
            "dkg",
            "--seed",
            "7",
            "--nodes",
            "4",
            "--limit",
            "3",
        ],
        d,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("crash points (the first 3 syncs; --limit)"),
        "{out}"
    );
    for sync in 1..=3 {
        for at in ["before", "after", "after_send"] {
            assert!(out.contains(&format!("sync={sync} at={at} pass")), "{out}");
        }
    }
    assert!(out.contains("crash_points=9 failed=0"), "{out}");
    // A point's plan crashes the node there: its trace says so.
    let (code, _, _) = sim(
        &[
            "plan",
            "--scenario",
            "dkg",
            "--seed",
            "7",
            "--nodes",
            "4",
            "--out",
            "p.json",
        ],
        d,
    );
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(d.join("p.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["plan"]["core"]["sync_crashes"] =
        serde_json::json!([{"node": 1, "sync": 2, "at": "after_send", "down_ms": 300}]);
    std::fs::write(d.join("c.json"), value.to_string()).unwrap();
    let (code, out, err) = sim(&["run", "--plan", "c.json", "--trace", "t.jsonl"], d);
    assert_eq!(code, 0, "{out}{err}");
    let trace = std::fs::read_to_string(d.join("t.jsonl")).unwrap();
    assert!(
        trace.contains(
            "\"node\":1,\"event\":\"crashed\",\"detail\":\"sync=2 at=after_send down_ms=300\""
        ),
        "no crash at the point"
    );
}

/// A node whose storage fails every write for a while stops on the first failure, is restarted
/// by the harness, recovers, and the run keeps every invariant.
#[test]
fn a_storage_fault_stops_the_node_which_restarts_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for scenario in ["barrier", "ledger"] {
        let (code, _, _) = sim(
            &[
                "plan",
                "--scenario",
                scenario,
                "--seed",
                "3",
                "--nodes",
                "4",
                "--out",
                "p.json",
            ],
            d,
        );
        assert_eq!(code, 0);
        let text = std::fs::read_to_string(d.join("p.json")).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["plan"]["core"]["storage_faults"] = serde_json::json!([{
            "node": 1, "at_ms": 200, "for_ms": 600, "read_per_mille": 0,
            "write_per_mille": 1000, "sync_per_mille": 1000, "torn_per_mille": 500, "seed": 9
        }]);
        std::fs::write(d.join("f.json"), value.to_string()).unwrap();
        let (code, out, err) = sim(&["run", "--plan", "f.json", "--trace", "t.jsonl"], d);
        assert_eq!(code, 0, "{scenario}: {out}{err}");
        let trace = std::fs::read_to_string(d.join("t.jsonl")).unwrap();
        for event in [
            "storage_failing",
            "storage_failed",
            "restarted",
            "storage_healed",
        ] {
            assert!(
                trace.contains(&format!("\"node\":1,\"event\":\"{event}\"")),
                "{scenario}: no {event}"
            );
        }
        assert!(!trace.contains("storage_fault_ignored"));
    }
}
