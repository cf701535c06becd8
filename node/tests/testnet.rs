//! Real `cohort` processes on loopback: a 4-node cluster runs its DKG to one group key, stops
//! cleanly and loads the key after a restart without running the ceremony again; a node killed
//! (SIGKILL) mid-ceremony and restarted still lets the cluster finish with one key; a node with
//! another cluster definition is refused with a clear error on both sides; ops submitted to one
//! node's admin API reach every node, and a node killed (SIGKILL) and restarted catches up; set-up
//! and config mistakes are one clear line with exit status 2 (before the runtime starts); a lone
//! node's HTTP servers have the right content type and help texts, cut off half a request head,
//! refuse a declared oversized body unread, and let the node stop with a connection held open.
//!
//! Every wait is bounded; children are killed if a test fails half-way.

use cohort_node::{admin, config::NodeConfig, testnet::scrape};
use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::atomic::{AtomicU16, Ordering},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_cohort");
const DKG_DEADLINE: Duration = Duration::from_secs(90);
const EXIT_DEADLINE: Duration = Duration::from_secs(30);
const LEDGER_DEADLINE: Duration = Duration::from_secs(60);

/// Lowest and span of the ports the tests use: below Linux's ephemeral range (32768 and up), so
/// an outgoing connection of a parallel test cannot take a port between our probe and the bind.
const PORTS_FROM: u16 = 10_000;
const PORTS_SPAN: u16 = 22_000;

/// A base port with `count` consecutive free ports. Each call probes its own region (tests of
/// one process run in parallel), starting from a per-process offset (test binaries too).
fn free_base_port(count: u16) -> u16 {
    static NEXT_REGION: AtomicU16 = AtomicU16::new(0);
    let region = NEXT_REGION.fetch_add(1, Ordering::Relaxed);
    let offset = (std::process::id() % 50) as u16 * 200 + region * 1_100;
    let mut candidate = PORTS_FROM + offset % (PORTS_SPAN - count);
    loop {
        let free = (0..count).all(|i| {
            TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, candidate + i))).is_ok()
        });
        if free {
            return candidate;
        }
        candidate = PORTS_FROM + (candidate - PORTS_FROM + 97 * count) % (PORTS_SPAN - count);
    }
}

/// Runs `cohort` with `args` to completion (killed after [`EXIT_DEADLINE`]: a command expected
/// to fail at once must not hang the test if it does not).
fn cohort(args: &[&str]) -> Output {
    cohort_env(args, &[])
}

/// [`cohort`] with environment variables set.
fn cohort_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cohort");
    let until = Instant::now() + EXIT_DEADLINE;
    while child.try_wait().expect("wait for cohort").is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            panic!("cohort {args:?} did not exit within {EXIT_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("cohort output")
}

fn init(dir: &Path, nodes: usize) -> u16 {
    let base = free_base_port(3 * nodes as u16 + 100);
    let out = cohort(&[
        "testnet",
        "init",
        "--nodes",
        &nodes.to_string(),
        "--dir",
        dir.to_str().unwrap(),
        "--base-port",
        &base.to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    base
}

fn spawn(dir: &Path, i: usize, log_path: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap();
    Command::new(BIN)
        .args(["run", "--log-format", "json", "--config"])
        .arg(dir.join(format!("node{i}")).join("config.toml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start cohort run")
}

/// Child processes, killed on drop.
struct Nodes {
    children: Vec<Child>,
    logs: Vec<PathBuf>,
}

impl Nodes {
    fn start(dir: &Path, nodes: usize) -> Self {
        let mut children = Vec::new();
        let mut logs = Vec::new();
        for i in 0..nodes {
            let log_path = dir.join(format!("node{i}")).join("test.log");
            children.push(spawn(dir, i, &log_path));
            logs.push(log_path);
        }
        Self { children, logs }
    }

    /// Kills node `i` with SIGKILL (no chance to flush or sync anything).
    fn kill(&mut self, i: usize) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }

    /// Starts node `i` again (its log continues in the same file).
    fn restart(&mut self, dir: &Path, i: usize) {
        self.children[i] = spawn(dir, i, &self.logs[i]);
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.logs[i]).unwrap_or_default()
    }

    fn signal_all(&self) {
        for child in &self.children {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM);
        }
    }

    /// Waits (bounded) for every child to exit.
    fn wait_all(&mut self, deadline: Duration) -> Vec<ExitStatus> {
        let until = Instant::now() + deadline;
        let mut statuses = vec![None; self.children.len()];
        while statuses.iter().any(Option::is_none) {
            assert!(
                Instant::now() < until,
                "nodes did not exit within {deadline:?}: {statuses:?}"
            );
            for (child, status) in self.children.iter_mut().zip(statuses.iter_mut()) {
                if status.is_none() {
                    *status = child.try_wait().unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        statuses.into_iter().map(Option::unwrap).collect()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn metrics_addr(base: u16, i: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, base + 3 * i as u16 + 1))
}

fn admin_addr(base: u16, i: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, base + 3 * i as u16 + 2))
}

/// Waits (bounded) until the `n` nodes' admin APIs report one state digest, each holding at
/// least `min_ops` ops and every id of `ids`; returns the common op count.
fn wait_for_one_ledger(nodes: &Nodes, base: u16, n: usize, min_ops: u64, ids: &[String]) -> u64 {
    let until = Instant::now() + LEDGER_DEADLINE;
    loop {
        let statuses: Vec<_> = (0..n)
            .filter_map(|i| admin::get_status(admin_addr(base, i)).ok())
            .collect();
        let digests: std::collections::BTreeSet<_> =
            statuses.iter().map(|s| s.digest.clone()).collect();
        if statuses.len() == n && digests.len() == 1 && statuses[0].ops >= min_ops {
            let all_there = (0..n).all(|i| {
                let mut held = std::collections::BTreeSet::new();
                let mut after = 0;
                while let Ok(page) = admin::get_ops(admin_addr(base, i), after, 1000) {
                    if page.ops.is_empty() {
                        break;
                    }
                    held.extend(page.ops.into_iter().map(|o| o.id));
                    after = page.next;
                }
                ids.iter().all(|id| held.contains(id))
            });
            if all_there {
                return statuses[0].ops;
            }
        }
        assert!(
            Instant::now() < until,
            "the ledgers did not converge within {LEDGER_DEADLINE:?}: {:?}; node0 log:\n{}",
            statuses
                .iter()
                .map(|s| (s.node.clone(), s.ops, s.digest[..8].to_string()))
                .collect::<Vec<_>>(),
            nodes.log(0)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (bounded) until all `n` nodes report the DKG complete; returns their group keys.
fn wait_for_keys(nodes: &Nodes, base: u16, n: usize) -> Vec<String> {
    let until = Instant::now() + DKG_DEADLINE;
    loop {
        let keys: Vec<String> = (0..n)
            .filter_map(|i| scrape(metrics_addr(base, i)))
            .filter(|s| s.dkg_complete)
            .filter_map(|s| s.group_key)
            .collect();
        if keys.len() == n {
            return keys;
        }
        assert!(
            Instant::now() < until,
            "only {}/{n} nodes completed the DKG; node0 log:\n{}",
            keys.len(),
            nodes.log(0)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop_cleanly(nodes: &mut Nodes) {
    nodes.signal_all();
    for (i, status) in nodes.wait_all(EXIT_DEADLINE).into_iter().enumerate() {
        assert!(
            status.success(),
            "node{i} exited with {status}:\n{}",
            nodes.log(i)
        );
        assert!(nodes.log(i).contains("stopping"));
    }
}

#[test]
fn four_nodes_agree_on_a_group_key_and_load_it_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 4);
    let mut nodes = Nodes::start(dir.path(), 4);
    let keys = wait_for_keys(&nodes, base, 4);
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    assert_eq!(keys[0].len(), 96, "a hex MinPk group key");
    // Metrics are served over HTTP with the runtime's and the protocol's series.
    let page = ureq_get(metrics_addr(base, 0));
    assert!(page.contains("node_dkg_group_key{group_key=") && page.contains("runtime_"));
    stop_cleanly(&mut nodes);
    for i in 0..4 {
        let log = nodes.log(i);
        assert!(
            log.contains("dkg complete") && log.contains(&keys[0]),
            "node{i}"
        );
        assert!(log.contains("phase=deal"));
    }

    // After a restart every node loads its result: same key, no ceremony.
    for i in 0..4 {
        std::fs::write(&nodes.logs[i], "").unwrap();
    }
    let mut nodes = Nodes::start(dir.path(), 4);
    let again = wait_for_keys(&nodes, base, 4);
    assert_eq!(again, keys);
    stop_cleanly(&mut nodes);
    for i in 0..4 {
        let log = nodes.log(i);
        assert!(
            !log.contains("phase=deal"),
            "node{i} ran the ceremony again"
        );
        assert!(log.contains(&keys[0]));
    }
}

#[test]
fn ops_submitted_to_one_node_reach_all_and_a_killed_node_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 4);
    let mut nodes = Nodes::start(dir.path(), 4);
    // Each node appends its Boot op; wait for the ledger API of every node.
    wait_for_one_ledger(&nodes, base, 4, 4, &[]);
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = admin::submit(admin_addr(base, 0), format!("op {i}").as_bytes())
            .expect("submit to node0");
        assert_eq!(id.len(), 64);
        ids.push(id);
    }
    // An oversized payload is refused with a clear status.
    let err = admin::submit(admin_addr(base, 0), &vec![0u8; 20_000]).unwrap_err();
    assert!(err.contains("413"), "{err}");
    let before = wait_for_one_ledger(&nodes, base, 4, 9, &ids);

    // SIGKILL node 2; the others go on appending; it restarts and catches up.
    nodes.kill(2);
    for i in 0..5 {
        ids.push(
            admin::submit(admin_addr(base, 1), format!("while down {i}").as_bytes())
                .expect("submit to node1"),
        );
    }
    nodes.restart(dir.path(), 2);
    let after = wait_for_one_ledger(&nodes, base, 4, before + 6, &ids);
    assert!(
        after >= before + 6,
        "5 ops and node2's second Boot op: {before} -> {after}"
    );
    let status = admin::get_status(admin_addr(base, 2)).unwrap();
    assert!(status.boot_recovered);
    assert!(status.flagged.is_empty());
    // `cohort status` prints the same JSON.
    let out = cohort(&[
        "status",
        "--config",
        dir.path().join("node2/config.toml").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: admin::StatusJson = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed.node, "node2");
    let out = cohort(&[
        "submit",
        "--config",
        dir.path().join("node2/config.toml").to_str().unwrap(),
        "--data",
        "from the cli",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim().len(), 64);
    stop_cleanly(&mut nodes);
}

#[test]
fn a_node_killed_mid_ceremony_restarts_and_the_cluster_still_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 4);
    let mut nodes = Nodes::start(dir.path(), 4);
    // A moment drawn from the clock, within the first few hundred milliseconds of the
    // ceremony (the whole ceremony takes about that long on loopback).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let victim = (nanos % 4) as usize;
    let delay = Duration::from_millis(50 + nanos % 400);
    std::thread::sleep(delay);
    nodes.kill(victim);
    eprintln!("killed node{victim} after {delay:?}");
    std::thread::sleep(Duration::from_millis(300));
    nodes.restart(dir.path(), victim);
    let keys = wait_for_keys(&nodes, base, 4);
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    stop_cleanly(&mut nodes);
}

fn ureq_get(addr: SocketAddr) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "2", &format!("http://{addr}/metrics")])
        .output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).to_string(),
        // No curl on the machine: fall back to a raw HTTP/1.0 request.
        _ => {
            use std::io::{Read as _, Write as _};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            stream
                .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        }
    }
}

#[test]
fn a_node_with_another_cluster_definition_is_refused_and_the_others_go_on_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 4);
    // node3 gets its own copy of the cluster file with another minor version.
    let cluster = std::fs::read_to_string(dir.path().join("cluster.toml")).unwrap();
    let odd_cluster = cluster.replace("version = \"1.0\"", "version = \"1.1\"");
    assert_ne!(cluster, odd_cluster);
    std::fs::write(dir.path().join("node3/cluster.toml"), odd_cluster).unwrap();
    let config_path = dir.path().join("node3/config.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        config.replace(
            "cluster_file = \"../cluster.toml\"",
            "cluster_file = \"cluster.toml\"",
        ),
    )
    .unwrap();
    let odd_key = std::fs::read_to_string(dir.path().join("node3/key")).unwrap();
    let odd_identity = {
        use commonware_codec::DecodeExt as _;
        use commonware_cryptography::Signer as _;
        let bytes = cohort_node::hex::decode(&odd_key).unwrap();
        commonware_cryptography::ed25519::PrivateKey::decode(bytes)
            .unwrap()
            .public_key()
            .to_string()
    };

    // The odd node is refused by every other, so it cannot make a quorum and fails; the three
    // others are a quorum of four (the odd one counts as absent), agree on a key without it, and
    // name it.
    let mut nodes = Nodes::start(dir.path(), 4);
    let keys = wait_for_keys(&nodes, base, 3);
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    let until = Instant::now() + DKG_DEADLINE;
    let status = loop {
        if let Some(status) = nodes.children[3].try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < until,
            "node3 did not exit:\n{}",
            nodes.log(3)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = nodes.log(3);
    assert_eq!(status.code(), Some(1), "node3 should fail:\n{log}");
    assert!(log.contains("protocol failed"), "node3:\n{log}");
    assert!(log.contains("protocol version mismatch"), "node3:\n{log}");
    for i in 0..3 {
        let log = nodes.log(i);
        assert!(
            log.contains(&odd_identity) && log.contains("protocol version mismatch"),
            "node{i} must name node3:\n{log}"
        );
    }
    nodes.children.truncate(3);
    nodes.logs.truncate(3);
    stop_cleanly(&mut nodes);
}

#[test]
fn set_up_mistakes_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let out = cohort(&["run", "--config", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: cannot read"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let base = init(dir.path(), 2);
    let config = dir.path().join("node0/config.toml");

    // Unreadable key.
    std::fs::write(dir.path().join("node0/key"), "not hex").unwrap();
    let out = cohort(&["run", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("malformed") && stderr.contains("key"),
        "{stderr}"
    );

    // Malformed config.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "name = 3\n").unwrap();
    let out = cohort(&["run", "--config", broken.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.starts_with("error: malformed"), "{stderr}");

    // Port already in use.
    let config = dir.path().join("node1/config.toml");
    // Node 1's p2p port (3 ports per node: p2p, metrics, admin).
    let _taken = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, base + 3))).unwrap();
    let out = cohort(&["run", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("cannot listen for p2p on") && stderr.contains(&format!("{}", base + 3)),
        "{stderr}"
    );
}

/// Rewrites the node config at `path` with `edit`.
fn edit_config(path: &Path, edit: impl FnOnce(&mut NodeConfig)) {
    let mut config: NodeConfig = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(path, toml::to_string(&config).unwrap()).unwrap();
}

/// Runs `cohort run` on `config` and checks it fails at once with one `error:` line holding
/// `needle` and exit status 2.
fn expect_config_error(config: &Path, env: &[(&str, &str)], needle: &str) {
    let out = cohort_env(&["run", "--config", config.to_str().unwrap()], env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{needle}: {stderr}");
    assert!(stderr.starts_with("error: "), "{needle}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{needle}: {stderr}");
    assert!(stderr.contains(needle), "{needle}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn config_mistakes_are_one_line_with_exit_status_2() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), 4);
    let config = dir.path().join("node0/config.toml");
    let original = std::fs::read_to_string(&config).unwrap();
    let restore = || std::fs::write(&config, &original).unwrap();

    // A [[peers]] entry given twice (it used to panic inside the runtime).
    edit_config(&config, |c| c.peers.push(c.peers[0].clone()));
    expect_config_error(&config, &[], "listed twice in [[peers]]");
    restore();

    // An empty data folder path.
    edit_config(&config, |c| c.data_dir = PathBuf::new());
    expect_config_error(&config, &[], "data_dir is empty");
    restore();

    // A data folder that is a file, or under one (root cannot create either).
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    edit_config(&config, |c| c.data_dir = file.clone());
    expect_config_error(&config, &[], "cannot create data folder");
    edit_config(&config, |c| c.data_dir = file.join("data"));
    expect_config_error(&config, &[], "cannot create data folder");
    // A data folder that exists but cannot be written (it used to panic inside the runtime).
    if cfg!(target_os = "linux") {
        edit_config(&config, |c| c.data_dir = "/proc".into());
        expect_config_error(&config, &[], "is not writable");
    }
    restore();

    // A log filter that tracing reads as a target name (the node used to run silently).
    edit_config(&config, |c| c.log_level = "verbose".into());
    expect_config_error(&config, &[], "neither a level");
    restore();
    expect_config_error(&config, &[("RUST_LOG", "debugg")], "(from RUST_LOG)");

    // A threshold below a quorum of the committee: 1 of 4.
    let cluster = dir.path().join("cluster.toml");
    let text = std::fs::read_to_string(&cluster).unwrap();
    std::fs::write(&cluster, text.replace("threshold = 3", "threshold = 1")).unwrap();
    expect_config_error(&config, &[], "below the safe minimum 3");
    std::fs::write(&cluster, text).unwrap();
}

/// Sends `request` to `addr` and reads until the server closes the connection (bounded by
/// `deadline`); `None` if the connection was still open at the deadline.
fn raw_exchange(addr: SocketAddr, request: &[u8], deadline: Duration) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(deadline)).unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        _ => Some(String::from_utf8_lossy(&answer).to_string()),
    }
}

#[test]
fn a_lone_node_serves_bounded_http_and_holds_its_data_folder() {
    use cohort_node::http::HEADER_READ_TIMEOUT;
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 1);
    let mut nodes = Nodes::start(dir.path(), 1);
    // The ledger's op store is open once its metrics are there.
    let until = Instant::now() + LEDGER_DEADLINE;
    let page = loop {
        let up = std::net::TcpStream::connect(metrics_addr(base, 0)).is_ok();
        let answer = up
            .then(|| {
                raw_exchange(
                    metrics_addr(base, 0),
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                    EXIT_DEADLINE,
                )
            })
            .flatten()
            .unwrap_or_default();
        if answer.contains("cohort_ledger_ops_journal_tracked") {
            break answer;
        }
        assert!(
            Instant::now() < until,
            "no ledger metrics:\n{}",
            nodes.log(0)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    assert!(body.contains("_total "), "OpenMetrics counters");
    assert!(
        body.contains("# HELP cohort_ledger_ops_journal_tracked op store sections held"),
        "{body}"
    );
    assert!(
        !body
            .lines()
            .any(|l| l.starts_with("# HELP cohort_") && l.contains("Number of")),
        "{body}"
    );

    // Half a request head: the admin API closes the connection (bounded wait, generous).
    let answer = raw_exchange(
        admin_addr(base, 0),
        b"GET /status HTTP/1.1\r\nHost: x\r\nX-Half: ",
        HEADER_READ_TIMEOUT + Duration::from_secs(20),
    )
    .expect("the admin API closed a connection stuck in its request head");
    assert!(!answer.contains("200 OK"), "{answer}");

    // A declared oversized body is refused before it is sent.
    let answer = raw_exchange(
        admin_addr(base, 0),
        b"POST /ops HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
        EXIT_DEADLINE,
    )
    .expect("answered without the body");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A second node on the same data folder is refused at once (the runtime would wait).
    let other_base = free_base_port(3);
    let second = dir.path().join("second.toml");
    std::fs::copy(dir.path().join("node0/config.toml"), &second).unwrap();
    edit_config(&second, |c| {
        c.key_file = "node0/key".into();
        c.cluster_file = "cluster.toml".into();
        c.data_dir = "node0/data".into();
        c.listen.set_port(other_base);
        c.metrics.set_port(other_base + 1);
        c.admin = c.admin.map(|mut a| {
            a.set_port(other_base + 2);
            a
        });
    });
    expect_config_error(&second, &[], "in use by another process");

    // A connection held open does not keep the node from stopping.
    let _held = std::net::TcpStream::connect(admin_addr(base, 0)).unwrap();
    stop_cleanly(&mut nodes);
}

#[test]
fn testnet_init_help_gives_the_port_layout_it_writes() {
    let out = cohort(&["testnet", "init", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("P + 3i (p2p), P + 3i + 1 (metrics), P + 3i + 2 (admin API)"),
        "{help}"
    );
    assert!(!help.contains("2i"), "{help}");
}

/// Node `i`'s identity, hex, from its key file.
fn identity(dir: &Path, i: usize) -> String {
    use commonware_codec::DecodeExt as _;
    use commonware_cryptography::Signer as _;
    let key = std::fs::read_to_string(dir.join(format!("node{i}/key"))).unwrap();
    let bytes = cohort_node::hex::decode(key.trim()).unwrap();
    commonware_cryptography::ed25519::PrivateKey::decode(bytes)
        .unwrap()
        .public_key()
        .to_string()
}

/// Waits (bounded) until every one of `nodes` reports epoch `epoch` done; returns the group keys.
fn wait_for_epoch(nodes: &Nodes, base: u16, which: &[usize], epoch: u64) -> Vec<String> {
    let until = Instant::now() + DKG_DEADLINE;
    loop {
        let keys: Vec<String> = which
            .iter()
            .filter_map(|i| admin::get_status(admin_addr(base, *i)).ok())
            .filter(|s| s.epoch == Some(epoch))
            .filter_map(|s| s.group_key)
            .collect();
        if keys.len() == which.len() {
            return keys;
        }
        if Instant::now() >= until {
            // The tail of each late node's log says where it is.
            let late: Vec<String> = which
                .iter()
                .filter(|i| {
                    admin::get_status(admin_addr(base, **i))
                        .map_or(true, |s| s.epoch != Some(epoch))
                })
                .map(|i| {
                    let log = nodes.log(*i);
                    let tail: Vec<&str> = log
                        .lines()
                        .rev()
                        .filter(|l| !l.contains("input_rejected"))
                        .take(40)
                        .collect();
                    format!(
                        "node{i}:\n{}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    )
                })
                .collect();
            panic!(
                "only {}/{} nodes finished epoch {epoch}; the late ones' logs:\n{}",
                keys.len(),
                which.len(),
                late.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_of_four_make_a_key_and_a_reshare_replaces_the_dead_member_with_a_fresh_process() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 5);
    // Epoch 0: nodes 0..4 (node3 never starts); epoch 1 reshares to nodes 0, 1, 2 and the fresh
    // node4, which replaces the dead one.
    let ids: Vec<String> = (0..5).map(|i| identity(dir.path(), i)).collect();
    let path = dir.path().join("cluster.toml");
    let mut file: cohort_node::config::ClusterFile =
        toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Shorter phases (the dead member's missing acks and log are waited for a phase each).
    file.timing.phase_timeout_ms = 6_000;
    file.committees = Some(vec![
        ids[..4].to_vec(),
        vec![
            ids[0].clone(),
            ids[1].clone(),
            ids[2].clone(),
            ids[4].clone(),
        ],
    ]);
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();

    let logs: Vec<PathBuf> = (0..5)
        .map(|i| dir.path().join(format!("node{i}")).join("test.log"))
        .collect();
    let children = (0..3).map(|i| spawn(dir.path(), i, &logs[i])).collect();
    let mut nodes = Nodes {
        children,
        logs: logs[..3].to_vec(),
    };
    // Three of epoch 0's four are a quorum: the key is made without node3.
    let first = wait_for_epoch(&nodes, base, &[0, 1, 2], 0);
    assert!(first.windows(2).all(|w| w[0] == w[1]), "{first:?}");
    // The reshare needs four of its five participants: it waits for the fresh node4.
    nodes.children.push(spawn(dir.path(), 4, &logs[4]));
    nodes.logs.push(logs[4].clone());
    let second = wait_for_epoch(&nodes, base, &[0, 1, 2, 4], 1);
    assert!(
        second.iter().all(|k| *k == first[0]),
        "{second:?} vs {first:?}"
    );
    let log = nodes.log(3);
    assert!(log.contains("dkg complete"), "node4:\n{log}");
    stop_cleanly(&mut nodes);
}

/// Every node's certified checkpoints, per subject (`None` while a node does not answer).
fn checkpoints_by_subject(
    base: u16,
    n: usize,
) -> Option<Vec<std::collections::BTreeMap<String, Vec<admin::CheckpointJson>>>> {
    (0..n)
        .map(|i| {
            let list = admin::get_checkpoints(admin_addr(base, i), None).ok()?;
            let mut by = std::collections::BTreeMap::<String, Vec<_>>::new();
            for c in list.checkpoints {
                by.entry(c.subject.clone()).or_default().push(c);
            }
            Some(by)
        })
        .collect()
}

/// Waits (bounded) until every node holds at least `count` checkpoints of each of the `n`
/// subjects, every one verified under the group key, and all nodes hold the same ones.
fn wait_for_checkpoints(nodes: &Nodes, base: u16, n: usize, count: usize) {
    let until = Instant::now() + CHECKPOINT_DEADLINE;
    loop {
        if let Some(all) = checkpoints_by_subject(base, n) {
            let enough = all.iter().all(|by| {
                by.len() == n
                    && by
                        .values()
                        .all(|l| l.len() >= count && l.iter().all(|c| c.verified))
            });
            let ids = |by: &std::collections::BTreeMap<String, Vec<admin::CheckpointJson>>| {
                by.values()
                    .map(|l| {
                        l.iter()
                            .take(count)
                            .map(|c| c.id.clone())
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            };
            if enough && all.windows(2).all(|w| ids(&w[0]) == ids(&w[1])) {
                return;
            }
        }
        assert!(
            Instant::now() < until,
            "not every node holds {count} verified checkpoints of every member within {CHECKPOINT_DEADLINE:?}: {:?}; node0 log:\n{}",
            checkpoints_by_subject(base, n).map(|all| all
                .iter()
                .map(|by| by.values().map(Vec::len).collect::<Vec<_>>())
                .collect::<Vec<_>>()),
            nodes.log(0)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How long certifying a round of checkpoints may take on loopback (20 s intervals).
const CHECKPOINT_DEADLINE: Duration = Duration::from_secs(120);

#[test]
fn every_node_certifies_checkpoints_and_verifies_all_of_them_across_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 4);
    // Short intervals: a checkpoint every 20 s, checked every second, 5 s windows.
    for i in 0..4 {
        let path = dir.path().join(format!("node{i}/config.toml"));
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(
            "\n[checkpoint]\ninterval_ms = 20000\ncheck_ms = 1000\nwindow_ms = 5000\njitter_ms = 500\nresend_ms = 1000\n",
        );
        std::fs::write(&path, text).unwrap();
    }
    let mut nodes = Nodes::start(dir.path(), 4);
    wait_for_keys(&nodes, base, 4);
    wait_for_checkpoints(&nodes, base, 4, 1);
    // SIGKILL node 1 between rounds and restart it: it recovers its ledger and goes on.
    nodes.kill(1);
    std::thread::sleep(Duration::from_secs(2));
    nodes.restart(dir.path(), 1);
    wait_for_checkpoints(&nodes, base, 4, 2);
    let status = admin::get_status(admin_addr(base, 1)).unwrap();
    let checkpoint = status.checkpoint.expect("the checkpoint actor runs");
    assert!(checkpoint.ready);
    // `cohort checkpoints` prints them as a table, and as JSON.
    let config = dir.path().join("node3/config.toml");
    let out = cohort(&["checkpoints", "--config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with("subject") && table.contains("yes") && !table.contains(" NO "),
        "{table}"
    );
    let subject = &status.identity;
    let out = cohort(&[
        "checkpoints",
        "--config",
        config.to_str().unwrap(),
        "--subject",
        subject,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: admin::CheckpointsJson = serde_json::from_slice(&out.stdout).unwrap();
    assert!(list.checkpoints.len() >= 2 && list.checkpoints.iter().all(|c| &c.subject == subject));
    let out = cohort(&[
        "checkpoints",
        "--config",
        config.to_str().unwrap(),
        "--subject",
        "zz",
    ]);
    assert_eq!(out.status.code(), Some(2));
    stop_cleanly(&mut nodes);
}

/// Issue 13 through the node's interfaces: `cohort committee propose --remove` on one member;
/// a second proposal is refused while it is open (409), a removal below the safe size is refused
/// with its reason (422); the members vote, certify, and every node (the removed one observing)
/// reshares to epoch 1 under the same group key without a restart; `cohort committee status`
/// shows the certified committee.
#[test]
fn a_member_removed_by_a_certified_proposal_is_reshared_out_under_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 5);
    let nodes = Nodes::start(dir.path(), 5);
    let keys = wait_for_keys(&nodes, base, 5);
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    let config = |i: usize| {
        dir.path()
            .join(format!("node{i}"))
            .join("config.toml")
            .to_str()
            .unwrap()
            .to_string()
    };
    let identity = |i: usize| admin::get_status(admin_addr(base, i)).unwrap().identity;
    let removed = identity(4);
    // A node that just finished its DKG may still be in boot recovery (503), or not have heard
    // from enough members yet (a live quorum is needed): ask again, as an operator would.
    let until = Instant::now() + LEDGER_DEADLINE;
    let out = loop {
        let out = cohort(&[
            "committee",
            "propose",
            "--config",
            &config(0),
            "--remove",
            &removed,
            "--reason",
            "retire node4",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let not_yet = stderr.contains("503") || stderr.contains("live members now");
        if !not_yet || Instant::now() > until {
            break out;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("proposed epoch 1 (4 members, threshold 3)"),
        "{stdout}"
    );
    // A second proposal while the first is open (node1 may still be recovering: asked again).
    // On a loaded machine node1 may answer only after the first proposal was certified and
    // epoch 1 reshared: then the same removal is refused because node4 is no member any more.
    // Either refusal is right; accepting the second would not be.
    let out = propose_until_taken(&config(1), &["--remove", &removed]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let open = stderr.contains("409") && stderr.contains("already open");
    let done = stderr.contains("422") && stderr.contains("is not in the committee of epoch 1");
    assert!(open || done, "{stderr}");
    let after = wait_for_epoch(&nodes, base, &[0, 1, 2, 3, 4], 1);
    assert!(
        after.iter().all(|k| *k == keys[0]),
        "{after:?} vs {}",
        keys[0]
    );
    let out = cohort(&["committee", "status", "--config", &config(2), "--json"]);
    let status: cohort_node::committee::GovernanceJson =
        serde_json::from_slice(&out.stdout).expect("committee status JSON");
    assert_eq!(status.last_epoch, 1);
    assert!(!status.reshare_pending);
    assert_eq!(status.committees.len(), 2);
    assert_eq!(status.committees[1].members.len(), 4);
    assert!(!status.committees[1].members.contains(&removed));
    assert_ne!(status.committees[1].source, "genesis");
    // Four members may not shrink to three.
    let out = cohort(&[
        "committee",
        "propose",
        "--config",
        &config(0),
        "--remove",
        &identity(3),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("422") && stderr.contains("below the safe size"),
        "{stderr}"
    );
    // The removed member can no longer propose.
    let out = cohort(&[
        "committee",
        "propose",
        "--config",
        &config(4),
        "--add",
        &removed,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a member of the committee of epoch 1"),
        "{stderr}"
    );
}

/// `init` with `extra` joiners (nodes `nodes..nodes + extra`, not in `cluster.toml`).
fn init_with_extra(dir: &Path, nodes: usize, extra: usize) -> u16 {
    let base = free_base_port(3 * (nodes + extra) as u16 + 100);
    let out = cohort(&[
        "testnet",
        "init",
        "--nodes",
        &nodes.to_string(),
        "--extra",
        &extra.to_string(),
        "--dir",
        dir.to_str().unwrap(),
        "--base-port",
        &base.to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("is not a member yet"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    base
}

/// Asks node `by` for a committee change with `cohort committee propose ARGS`, again while it
/// cannot take it yet (503: still recovering; not enough members heard from yet), as an
/// operator would; returns the last answer.
fn propose_until_taken(config: &str, args: &[&str]) -> Output {
    let until = Instant::now() + LEDGER_DEADLINE;
    loop {
        let mut all = vec!["committee", "propose", "--config", config];
        all.extend_from_slice(args);
        let out = cohort(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let not_yet = stderr.contains("503") || stderr.contains("live members now");
        if !not_yet || Instant::now() > until {
            return out;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Issue 13 end to end on loopback: four members and two extra nodes started with only the
/// genesis definition (joiners). node4 is admitted with `cohort committee propose --add`: it
/// catches up, learns the group key and gets a share of epoch 1 under the same key. Then
/// member node3 dies for good (SIGKILL, never restarted) and `--replace` puts node5 in its
/// place: epoch 2 is reshared among the live members and node5, and checkpoints are certified
/// with epoch 2's shares.
#[test]
fn joiners_are_admitted_and_a_dead_member_is_replaced_then_checkpoints_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let base = init_with_extra(dir.path(), 4, 2);
    for i in 0..6 {
        let path = dir.path().join(format!("node{i}/config.toml"));
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(
            "\n[checkpoint]\ninterval_ms = 20000\ncheck_ms = 1000\nwindow_ms = 5000\njitter_ms = 500\nresend_ms = 1000\n",
        );
        std::fs::write(&path, text).unwrap();
    }
    let config = |i: usize| {
        dir.path()
            .join(format!("node{i}"))
            .join("config.toml")
            .to_str()
            .unwrap()
            .to_string()
    };
    let p2p = |i: usize| SocketAddr::from((Ipv4Addr::LOCALHOST, base + 3 * i as u16)).to_string();
    let mut nodes = Nodes::start(dir.path(), 6);
    let keys = wait_for_keys(&nodes, base, 4);
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    let ids: Vec<String> = (0..6).map(|i| identity(dir.path(), i)).collect();
    // The joiners run, catch up, and are nobody's member yet.
    let joiner = admin::get_status(admin_addr(base, 4)).unwrap();
    assert_eq!(joiner.epoch, None);

    let out = propose_until_taken(&config(0), &["--add", &ids[4], "--address", &p2p(4)]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let epoch1 = wait_for_epoch(&nodes, base, &[0, 1, 2, 3, 4], 1);
    assert!(
        epoch1.iter().all(|k| *k == keys[0]),
        "{epoch1:?} vs {}",
        keys[0]
    );
    let status = admin::get_status(admin_addr(base, 4)).unwrap();
    assert!(
        status.checkpoint.as_ref().is_some_and(|c| c.ready),
        "the joiner holds no share: {status:?}"
    );

    // node3 dies for good; node5 replaces it.
    nodes.kill(3);
    let out = propose_until_taken(
        &config(0),
        &["--replace", &ids[3], &ids[5], "--address", &p2p(5)],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let epoch2 = wait_for_epoch(&nodes, base, &[0, 1, 2, 4, 5], 2);
    assert!(
        epoch2.iter().all(|k| *k == keys[0]),
        "{epoch2:?} vs {}",
        keys[0]
    );
    for i in [4, 5] {
        let status = admin::get_status(admin_addr(base, i)).unwrap();
        assert!(
            status.checkpoint.as_ref().is_some_and(|c| c.ready),
            "node{i}: {status:?}"
        );
    }
    // A checkpoint certified after the reshare (voted with epoch 2's shares) verifies under the
    // one group key.
    let reshared_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let until = Instant::now() + CHECKPOINT_DEADLINE;
    loop {
        let list = checkpoints_of(&config(5));
        if list.checkpoints.iter().any(|c| c.as_of_ms > reshared_ms) {
            assert!(list.checkpoints.iter().all(|c| c.verified), "{list:?}");
            break;
        }
        assert!(
            Instant::now() < until,
            "no checkpoint certified in epoch 2; node0 log:\n{}",
            nodes.log(0)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = cohort(&["committee", "status", "--config", &config(5), "--json"]);
    let status: cohort_node::committee::GovernanceJson =
        serde_json::from_slice(&out.stdout).expect("committee status JSON");
    assert_eq!(status.last_epoch, 2);
    assert!(status.committees[2].members.contains(&ids[5]));
    assert!(!status.committees[2].members.contains(&ids[3]));
    // Every node still running stops cleanly.
    nodes.signal_all();
    for (i, status) in nodes.wait_all(EXIT_DEADLINE).into_iter().enumerate() {
        if i != 3 {
            assert!(
                status.success(),
                "node{i} exited with {status}:\n{}",
                nodes.log(i)
            );
        }
    }
}

fn checkpoints_of(config: &str) -> admin::CheckpointsJson {
    let out = cohort(&["checkpoints", "--config", config, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Cuts `bytes` off the newest section file of node `i`'s op journal (its newest generation),
/// as a torn or corrupted page would; returns the file's length before.
fn cut_op_store_tail(dir: &Path, i: usize, bytes: u64) -> u64 {
    let data = dir.join(format!("node{i}/data"));
    let mut journals: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("cohort-ops") && name != "cohort-opsgen"
        })
        .collect();
    journals.sort_by_key(|p| {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        name.trim_start_matches("cohort-ops")
            .parse::<u64>()
            .unwrap_or(0)
    });
    let journal = journals.pop().expect("an op journal");
    let mut sections: Vec<PathBuf> = std::fs::read_dir(&journal)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    sections.sort();
    let newest = sections.pop().expect("a section");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(bytes)).unwrap();
    file.sync_all().unwrap();
    len
}

/// Waits (bounded) until node `i` authors again; returns its status.
fn wait_for_authoring(nodes: &Nodes, base: u16, i: usize) -> admin::StatusJson {
    let until = Instant::now() + LEDGER_DEADLINE;
    loop {
        if let Ok(status) = admin::get_status(admin_addr(base, i))
            && status.authoring == "yes"
        {
            return status;
        }
        assert!(
            Instant::now() < until,
            "node{i} does not author again; its log:\n{}",
            nodes.log(i)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_node_whose_op_store_is_truncated_or_deleted_recovers_its_chain_and_is_never_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 4);
    let mut nodes = Nodes::start(dir.path(), 4);
    wait_for_one_ledger(&nodes, base, 4, 4, &[]);
    let status = wait_for_authoring(&nodes, base, 0);
    assert_eq!(status.store_state, "fresh");
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            admin::submit(
                admin_addr(base, 0),
                format!("op {i} {}", "x".repeat(200)).as_bytes(),
            )
            .expect("submit to node0"),
        );
    }
    wait_for_one_ledger(&nodes, base, 4, 34, &ids);

    // A torn tail: node0's newest synced records (its own last ops among them) are gone.
    nodes.kill(0);
    let len = cut_op_store_tail(dir.path(), 0, 3000);
    assert!(len > 3000, "the section held {len} bytes");
    nodes.restart(dir.path(), 0);
    let status = wait_for_authoring(&nodes, base, 0);
    assert_eq!(status.store_state, "truncated");
    let log = nodes.log(0);
    assert!(
        log.contains("op store lost synced records"),
        "no warning in node0's log:\n{log}"
    );
    for i in 0..5 {
        ids.push(
            admin::submit(admin_addr(base, 0), format!("after the cut {i}").as_bytes())
                .expect("submit to node0"),
        );
    }
    wait_for_one_ledger(&nodes, base, 4, 40, &ids);

    // The op store deleted by an operator: the node tells it from a first start.
    nodes.kill(0);
    for entry in std::fs::read_dir(dir.path().join("node0/data")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("cohort-ops")
        {
            std::fs::remove_dir_all(path).unwrap();
        }
    }
    nodes.restart(dir.path(), 0);
    let status = wait_for_authoring(&nodes, base, 0);
    assert_eq!(status.store_state, "lost");
    ids.push(admin::submit(admin_addr(base, 0), b"after the loss").expect("submit to node0"));
    wait_for_one_ledger(&nodes, base, 4, 42, &ids);
    // Nobody holds evidence against node0: it never signed two ops with one seq.
    for i in 0..4 {
        let status = admin::get_status(admin_addr(base, i)).unwrap();
        assert!(
            status.flagged.is_empty(),
            "node{i} flags {:?}",
            status.flagged
        );
        assert_eq!(status.authoring, "yes");
    }
    stop_cleanly(&mut nodes);
}

#[test]
fn a_store_file_the_node_cannot_read_is_refused_at_boot_with_its_path_and_the_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 1);
    let mut nodes = Nodes::start(dir.path(), 1);
    wait_for_one_ledger(&nodes, base, 1, 1, &[]);
    nodes.kill(0);
    let section = dir.path().join("node0/data/cohort-ops/0000000000000000");
    let mut bytes = std::fs::read(&section).unwrap();
    bytes[..8].copy_from_slice(b"GARBAGE!");
    std::fs::write(&section, &bytes).unwrap();
    let out = cohort(&[
        "run",
        "--config",
        dir.path().join("node0/config.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("damaged store file")
            && stderr.contains("cohort-ops/0000000000000000")
            && stderr.contains("move the folder"),
        "{stderr}"
    );
    // Untouched: the node discarded nothing.
    assert_eq!(std::fs::read(&section).unwrap(), bytes);
}

#[test]
fn a_node_whose_metadata_is_deleted_resumes_its_barrier_step_and_nobody_blocks_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 4);
    let mut nodes = Nodes::start(dir.path(), 4);
    let keys = wait_for_keys(&nodes, base, 4);
    let mut ids = vec![admin::submit(admin_addr(base, 1), b"before").expect("submit to node1")];
    wait_for_one_ledger(&nodes, base, 4, 5, &ids);

    // An operator deletes node0's metadata (barrier step, boot counter, ceremony flag).
    nodes.kill(0);
    let seen: Vec<usize> = (1..4).map(|i| nodes.log(i).len()).collect();
    std::fs::remove_dir_all(dir.path().join("node0/data/cohort-meta")).unwrap();
    nodes.restart(dir.path(), 0);
    let status = wait_for_authoring(&nodes, base, 0);
    assert_eq!(status.store_state, "intact");
    assert_eq!(wait_for_keys(&nodes, base, 4), keys);
    ids.push(admin::submit(admin_addr(base, 0), b"after").expect("submit to node0"));
    wait_for_one_ledger(&nodes, base, 4, 7, &ids);
    // It resumed at the step its DKG journal proves, and said so; no peer took it for a
    // liar (in the issue that filed this, every peer blocked it and it exited after 30 s).
    let log = nodes.log(0);
    assert!(log.contains("meta_behind_journal"), "node0:\n{log}");
    assert!(!log.contains("refused us"), "node0:\n{log}");
    for i in 1..4 {
        let log = nodes.log(i);
        let since = &log[seen[i - 1]..];
        assert!(
            !since.contains("step rule") && !since.contains("peer_faulty"),
            "node{i}:\n{since}"
        );
    }
    stop_cleanly(&mut nodes);
}

/// Item 4 of issue 14 on loopback: node0's DKG journal is deleted. It comes back, finishes the
/// round it held from its peers' decision without a share (`share: missing` in `/status`), and
/// a reshare of the unchanged committee (`cohort committee propose --reshare`) gives it a new
/// share of the same key.
#[test]
fn a_member_whose_dkg_journal_is_deleted_gets_a_new_share_from_a_reshare_of_the_committee() {
    let dir = tempfile::tempdir().unwrap();
    let base = init(dir.path(), 4);
    let mut nodes = Nodes::start(dir.path(), 4);
    let keys = wait_for_keys(&nodes, base, 4);
    wait_for_one_ledger(&nodes, base, 4, 4, &[]);
    nodes.kill(0);
    std::fs::remove_dir_all(dir.path().join("node0/data/cohort-dkg")).unwrap();
    nodes.restart(dir.path(), 0);
    let until = Instant::now() + DKG_DEADLINE;
    let status = loop {
        match admin::get_status(admin_addr(base, 0)) {
            Ok(status) if status.epoch == Some(0) => break status,
            _ if Instant::now() > until => {
                panic!("node0 never reloaded epoch 0:\n{}", nodes.log(0))
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert_eq!(status.share, "missing");
    assert_eq!(status.group_key.as_ref(), Some(&keys[0]));
    assert!(nodes.log(0).contains("share_lost"), "{}", nodes.log(0));
    for i in 1..4 {
        assert_eq!(
            admin::get_status(admin_addr(base, i)).unwrap().share,
            "held"
        );
    }
    let config = dir.path().join("node1/config.toml");
    let out = propose_until_taken(config.to_str().unwrap(), &["--reshare"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let again = wait_for_epoch(&nodes, base, &[0, 1, 2, 3], 1);
    assert!(
        again.iter().all(|k| *k == keys[0]),
        "{again:?} vs {}",
        keys[0]
    );
    for i in 0..4 {
        assert_eq!(
            admin::get_status(admin_addr(base, i)).unwrap().share,
            "held",
            "node{i}"
        );
    }
    stop_cleanly(&mut nodes);
}
