//! `cohort`: run a node, or a local testnet.

use clap::{Parser, Subcommand};
use cohort_node::{admin, committee, config, config::LogFormat, hex, run, testnet};
use std::{path::PathBuf, process::ExitCode};

#[derive(Parser)]
#[command(name = "cohort", version, about = "A Cohort cluster member")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one node.
    Run {
        /// The node's config file.
        #[arg(long)]
        config: PathBuf,
        /// Log format (the filter comes from RUST_LOG or the config's log_level).
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Print a running node's status (JSON) from its admin API.
    Status {
        /// The node's config file (its `admin` address is used).
        #[arg(long)]
        config: PathBuf,
    },
    /// List the certified checkpoints a running node's ledger holds, each re-verified under
    /// the group key, as a table (or JSON).
    Checkpoints {
        /// The node's config file (its `admin` address is used).
        #[arg(long)]
        config: PathBuf,
        /// Only this subject's (its identity, hex).
        #[arg(long)]
        subject: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Append a Data op through a running node's admin API; prints the op id.
    Submit {
        /// The node's config file (its `admin` address is used).
        #[arg(long)]
        config: PathBuf,
        /// The payload, as text.
        #[arg(long, conflicts_with = "hex")]
        data: Option<String>,
        /// The payload, as hex.
        #[arg(long)]
        hex: Option<String>,
    },
    /// Membership: the committee chain, and proposals to change it (through a running node's
    /// admin API).
    Committee {
        #[command(subcommand)]
        command: CommitteeCommand,
    },
    /// A local cluster on loopback.
    Testnet {
        #[command(subcommand)]
        command: TestnetCommand,
    },
}

#[derive(Subcommand)]
enum CommitteeCommand {
    /// Every epoch's committee (genesis, then certified), the open proposals with their
    /// approvals, and whether a reshare is in progress.
    Status {
        /// The node's config file (its `admin` address is used).
        #[arg(long)]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Propose a committee for the next epoch: the current one with one change, or unchanged
    /// (`--reshare`). The members vote on it; once certified, the reshare to it runs by itself.
    Propose {
        /// The node's config file (its `admin` address is used; the node must be a member of
        /// the current committee).
        #[arg(long)]
        config: PathBuf,
        /// Add this member (identity, hex).
        #[arg(long, value_name = "KEY", group = "change")]
        add: Option<String>,
        /// Remove this member (identity, hex).
        #[arg(long, value_name = "KEY", group = "change")]
        remove: Option<String>,
        /// Replace member OLD with NEW (identities, hex).
        #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], group = "change")]
        replace: Option<Vec<String>>,
        /// Keep the committee and reshare the key to it: every member gets a fresh share, so
        /// a member whose share was lost (its status says `share: missing`) gets one back.
        #[arg(long, group = "change")]
        reshare: bool,
        /// Where the others reach a new member (host:port); needed for a key that was never a
        /// member.
        #[arg(long)]
        address: Option<String>,
        /// Why (kept in the ledger with the proposal).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
enum TestnetCommand {
    /// Write keys, the cluster definition and one config per node.
    Init {
        /// How many nodes (1..=64).
        #[arg(long)]
        nodes: usize,
        /// How many extra nodes that `cluster.toml` does not list (joiners: they catch up and
        /// wait until `cohort committee propose --add` admits them).
        #[arg(long, default_value_t = 0)]
        extra: usize,
        /// Folder to write the testnet to (must not hold one already).
        #[arg(long)]
        dir: PathBuf,
        /// Node i uses 3 ports from P: P + 3i (p2p), P + 3i + 1 (metrics), P + 3i + 2 (admin API).
        #[arg(long, default_value_t = 9000)]
        base_port: u16,
    },
    /// Start every node of DIR, show their status, stop them all on Ctrl-C.
    Run {
        #[arg(long)]
        dir: PathBuf,
    },
}

/// The admin address of the node configured at `path`.
fn admin_addr(path: &std::path::Path) -> Result<std::net::SocketAddr, String> {
    let loaded = config::load(path).map_err(|e| e.to_string())?;
    loaded
        .config
        .admin
        .ok_or_else(|| format!("{} has no admin address", path.display()))
}

/// Runs an admin command: 0 on success, 1 if the node answered with an error or is not
/// reachable, 2 for a set-up mistake.
fn admin_command(result: Result<String, (u8, String)>) -> ExitCode {
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err((code, e)) => {
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Status { config } => admin_command((|| {
            let addr = admin_addr(&config).map_err(|e| (2, e))?;
            let status = admin::get_status(addr).map_err(|e| (1, format!("{addr}: {e}")))?;
            serde_json::to_string_pretty(&status).map_err(|e| (1, e.to_string()))
        })()),
        Command::Checkpoints {
            config,
            subject,
            json,
        } => admin_command((|| {
            let addr = admin_addr(&config).map_err(|e| (2, e))?;
            if let Some(s) = &subject
                && hex::decode(s).is_none_or(|b| b.len() != 32)
            {
                return Err((2, format!("--subject {s:?} is not a 32-byte hex identity")));
            }
            let list = admin::get_checkpoints(addr, subject.as_deref())
                .map_err(|e| (1, format!("{addr}: {e}")))?;
            match json {
                true => serde_json::to_string_pretty(&list).map_err(|e| (1, e.to_string())),
                false => Ok(admin::checkpoints_table(&list)),
            }
        })()),
        Command::Submit {
            config,
            data,
            hex: payload_hex,
        } => admin_command((|| {
            let addr = admin_addr(&config).map_err(|e| (2, e))?;
            let payload = match (data, payload_hex) {
                (Some(text), None) => text.into_bytes(),
                (None, Some(h)) => hex::decode(&h).ok_or((2, format!("--hex {h:?} is not hex")))?,
                _ => return Err((2, "give the payload with --data or --hex".to_string())),
            };
            admin::submit(addr, &payload).map_err(|e| (1, format!("{addr}: {e}")))
        })()),
        Command::Committee {
            command: CommitteeCommand::Status { config, json },
        } => admin_command((|| {
            let addr = admin_addr(&config).map_err(|e| (2, e))?;
            let status = admin::get_committee(addr).map_err(|e| (1, format!("{addr}: {e}")))?;
            match json {
                true => serde_json::to_string_pretty(&status).map_err(|e| (1, e.to_string())),
                false => Ok(committee::table(&status)),
            }
        })()),
        Command::Committee {
            command:
                CommitteeCommand::Propose {
                    config,
                    add,
                    remove,
                    replace,
                    reshare,
                    address,
                    reason,
                },
        } => admin_command((|| {
            let addr = admin_addr(&config).map_err(|e| (2, e))?;
            let (replace, with) = match replace.as_deref() {
                Some([old, new]) => (Some(old.clone()), Some(new.clone())),
                _ => (None, None),
            };
            let request = committee::ProposeJson {
                add,
                remove,
                replace,
                with,
                address,
                reason,
                reshare,
            };
            // Refuse a malformed request here, before the node is asked.
            request.change().map_err(|e| (2, e))?;
            let proposed =
                admin::propose(addr, &request).map_err(|e| (1, format!("{addr}: {e}")))?;
            Ok(format!(
                "proposed epoch {} ({} members, threshold {}): proposal {} (op {}); the members vote on it now",
                proposed.epoch,
                proposed.members.len(),
                proposed.threshold,
                &proposed.digest[..16],
                &proposed.op[..16]
            ))
        })()),
        Command::Run { config, log_format } => match run::run(&config, log_format) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        },
        Command::Testnet { command } => {
            let result = match command {
                TestnetCommand::Init {
                    nodes,
                    extra,
                    dir,
                    base_port,
                } => testnet::init(nodes, extra, &dir, base_port).map(|()| true),
                TestnetCommand::Run { dir } => testnet::run(&dir),
            };
            match result {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
