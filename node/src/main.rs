//! `cohort`: run a node, or a local testnet.

use clap::{Parser, Subcommand};
use cohort_node::{config::LogFormat, run, testnet};
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
    /// A local cluster on loopback.
    Testnet {
        #[command(subcommand)]
        command: TestnetCommand,
    },
}

#[derive(Subcommand)]
enum TestnetCommand {
    /// Write keys, the cluster definition and one config per node.
    Init {
        #[arg(long)]
        nodes: usize,
        #[arg(long)]
        dir: PathBuf,
        /// Node i listens on P + 2i (p2p) and P + 2i + 1 (metrics).
        #[arg(long, default_value_t = 9000)]
        base_port: u16,
    },
    /// Start every node of DIR, show their status, stop them all on Ctrl-C.
    Run {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
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
                    dir,
                    base_port,
                } => testnet::init(nodes, &dir, base_port).map(|()| true),
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
