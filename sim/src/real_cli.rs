//! `zkstorm` built for real (without `--cfg madsim`): `zkstorm server`, a
//! ZooKeeper-compatible server configured by a zoo.cfg. The simulation's
//! commands (run, replay, fuzz, bench) live in the simulation build.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use zkstorm::server::program::server_config;
use zkstorm::server::zoo_cfg::ZooCfg;
use zkstorm::server::{run, LogObserver};
use zkstorm::store::FileDisk;

#[derive(Parser)]
#[command(
    name = "zkstorm",
    version,
    about = "zkstorm built for real: a ZooKeeper-compatible server",
    after_help = "run, replay, fuzz and bench are in the simulation build: `cargo run --release -- run ...`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve as one server of the ensemble a zoo.cfg describes, speaking
    /// ZooKeeper's protocol on the client port.
    Server {
        /// ZooKeeper's config file (tickTime, dataDir, clientPort, server.N, ...).
        #[arg(long)]
        config: PathBuf,
        /// This server's id (default: the `myid` file in dataDir; 1 when standalone).
        #[arg(long)]
        id: Option<u64>,
    },
    /// With --real: a 3-server zkstorm ensemble beside a 3-server Apache
    /// ZooKeeper ensemble on loopback, the same load on both.
    Bench {
        /// Required: this build benchmarks real servers (the simulation
        /// build's `bench` measures the simulator).
        #[arg(long, required = true)]
        real: bool,
        /// Wall seconds per phase (writes, then reads), per system.
        #[arg(long, default_value = "5", value_parser = parse_secs)]
        secs: f64,
        /// Concurrent sessions, spread over the three servers.
        #[arg(long, default_value = "16", value_parser = clap::value_parser!(u16).range(1..=1000))]
        sessions: u16,
        #[arg(long)]
        json: bool,
        /// ZooKeeper's jar (Debian's `zookeeper` package puts it here).
        #[arg(long, default_value = "/usr/share/java/zookeeper.jar")]
        zookeeper_jar: PathBuf,
    },
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 600.0 => Ok(v),
        _ => Err(format!(
            "{s:?}: seconds must be a number above 0 and at most 600"
        )),
    }
}

pub fn main() -> ExitCode {
    let (config, id) = match Cli::parse().command {
        Command::Server { config, id } => (config, id),
        Command::Bench {
            real: _,
            secs,
            sessions,
            json,
            zookeeper_jar,
        } => {
            let opts = crate::real_bench::Options {
                secs,
                sessions: sessions.into(),
                json,
                zookeeper_jar,
            };
            return match crate::real_bench::run(&opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match serve(&config, id) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(config: &std::path::Path, id: Option<u64>) -> Result<(), String> {
    let zoo = ZooCfg::load(config).map_err(|e| e.to_string())?;
    for (line, key) in &zoo.ignored {
        tracing::info!(
            "{}:{line}: {key}: accepted, has no effect here",
            config.display()
        );
    }
    let id = match zoo.my_id(id) {
        Ok(id) => id,
        Err(_) if zoo.servers.is_empty() => 1,
        Err(e) => return Err(e),
    };
    let cfg = server_config(&zoo, id)?;
    let disk = FileDisk::open(&zoo.data_dir)
        .map_err(|e| format!("dataDir {}: {e}", zoo.data_dir.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("SIGTERM handler: {e}"))?;
        tracing::info!(id, client = %cfg.client_addr, "serving");
        // Every acknowledged write is already fsynced (a batch is answered
        // only once durable), so stopping here loses nothing acknowledged.
        tokio::select! {
            r = run(cfg, Arc::new(disk), Arc::new(LogObserver)) => {
                r.map_err(|e| format!("server {id} stopped: {e}"))
            }
            _ = term.recv() => {
                tracing::info!(id, "SIGTERM: stopping");
                Ok(())
            }
        }
    })
}
