//! `zkstorm`: run, replay and benchmark simulated scenarios.

// glibc malloc and free were a sixth of a run's instructions; mimalloc
// (its v2 line: v3 doubled a seed's peak memory) takes a tenth off the
// whole. No allocator call reaches the simulation's random numbers, so traces
// are unchanged.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(not(madsim))]
mod real_bench;
#[cfg(not(madsim))]
mod real_cli;

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    real_cli::main()
}

#[cfg(madsim)]
use clap::{Parser, Subcommand};
#[cfg(madsim)]
use std::path::PathBuf;
#[cfg(madsim)]
use std::process::ExitCode;
#[cfg(madsim)]
use zkstorm_sim::cli;

#[cfg(madsim)]
#[derive(Parser)]
#[command(
    name = "zkstorm",
    version,
    about = "Deterministic simulation testbed for a ZooKeeper-style ensemble"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[cfg(madsim)]
#[derive(Subcommand)]
enum Command {
    /// Run a scenario on one seed (or a range of seeds) and judge the history.
    Run {
        scenario: PathBuf,
        /// The seed to run.
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<u64>,
        /// A range of seeds: `A..B` (B excluded), `A..=B`, or one seed `N`.
        #[arg(long, allow_hyphen_values = true, value_parser = zkstorm_sim::runner::parse_seeds)]
        seeds: Option<std::ops::RangeInclusive<u64>>,
        /// Seeds run in parallel with --seeds (1..=256).
        #[arg(long, allow_hyphen_values = true, value_parser = cli::parse_jobs)]
        jobs: Option<usize>,
        /// End with one JSON object on the last line.
        #[arg(long)]
        json: bool,
        /// Run each seed twice and fail if the trace hashes differ.
        #[arg(long)]
        check_determinism: bool,
    },
    /// Random scenarios (a timing profile and a fault schedule per seed); every
    /// failure is shrunk to a scenario file that `run` replays.
    Fuzz(zkstorm_sim::fuzz::FuzzOptions),
    /// Print the scenario `zkstorm fuzz` draws for a seed, as a file `run` takes
    Draw {
        #[arg(long)]
        seed: u64,
        #[command(flatten)]
        intensity: zkstorm_sim::generate::Intensity,
    },
    /// The testbed's score: a fuzz campaign against each injectable bug of the catalogue, as a table (caught, seeds to the first failure, check, faults after shrinking)
    Mutants(zkstorm_sim::mutants::MutantsOptions),
    /// Run one seed and write its trace (every event as JSON lines) and/or a self-contained HTML page of it.
    Replay {
        scenario: PathBuf,
        #[arg(long)]
        seed: u64,
        /// Where the JSON-lines trace goes.
        #[arg(long, required_unless_present = "html")]
        trace: Option<PathBuf>,
        /// Where a self-contained HTML page of the run goes (a space-time
        /// diagram; no network fetches).
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Shrink a scenario file that fails on a seed (any file, not only the
    /// fuzzer's) to a smaller one that fails the same way.
    Shrink {
        scenario: PathBuf,
        #[arg(long)]
        seed: u64,
        /// Where the shrunk file goes (default: beside it, as
        /// `<name>.shrunk-seed-<N>.toml`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Most candidate runs.
        #[arg(long, default_value = "200")]
        runs: usize,
    },
    /// The fault kinds, checkers and injectable bugs, one line each, and the
    /// scenarios where a scenario folder is.
    List {
        /// Where to look for scenario files (default: `scenarios`, listed
        /// if it exists).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Seeds, simulated seconds and messages per wall second, against a bare madsim loop.
    Bench {
        #[arg(long)]
        json: bool,
        /// Wall seconds to spend per scenario (more than 0, at most 3600).
        #[arg(long, default_value = "5", allow_hyphen_values = true, value_parser = cli::parse_secs)]
        secs: f64,
        /// Scenarios to measure (default: the standard ones).
        scenarios: Vec<PathBuf>,
        /// Measure only these parts (comma-separated): scenarios, fuzz,
        /// growth, checkers. Default: all.
        #[arg(long, value_delimiter = ',', value_parser = ["scenarios", "fuzz", "growth", "checkers"])]
        only: Vec<String>,
        /// Internal: measure fuzz seeds on this many threads and print
        /// the figures as JSON (bench runs itself so for each --jobs).
        #[arg(long, hide = true, value_parser = cli::parse_jobs)]
        fuzz_child: Option<usize>,
        /// Real servers beside Apache ZooKeeper: in the real build only.
        #[arg(long)]
        real: bool,
    },
    /// A real server speaking ZooKeeper's protocol: in the real build only.
    Server {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        id: Option<u64>,
    },
}

#[cfg(madsim)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    // The docs test checks every command the docs show parses, without
    // running it.
    if std::env::var_os("ZKSTORM_PARSE_ONLY").is_some() {
        return ExitCode::SUCCESS;
    }
    let code = match cli.command {
        Command::Run {
            scenario,
            seed,
            seeds,
            jobs,
            json,
            check_determinism,
        } => match (jobs, &seeds) {
            (Some(_), None) => {
                eprintln!("error: --jobs runs the seeds of --seeds in parallel; give --seeds A..B");
                cli::EXIT_BAD_INPUT
            }
            _ => cli::run(
                &scenario,
                seed,
                seeds,
                jobs.unwrap_or(1),
                json,
                check_determinism,
            ),
        },
        Command::Fuzz(opts) => zkstorm_sim::fuzz::fuzz(&opts),
        Command::Mutants(opts) => zkstorm_sim::mutants::mutants(&opts),
        Command::Draw { seed, intensity } => {
            let mut sc = zkstorm_sim::generate::random_scenario_with(seed, &intensity);
            sc.name = format!("fuzz-{seed}");
            print!("{}", sc.to_toml());
            0
        }
        Command::Replay {
            scenario,
            seed,
            trace,
            html,
        } => cli::replay(&scenario, seed, trace.as_deref(), html.as_deref()),
        Command::Shrink {
            scenario,
            seed,
            out,
            runs,
        } => zkstorm_sim::shrink::shrink_file(&scenario, seed, out.as_deref(), runs),
        Command::List { dir } => cli::list(dir.as_deref()),
        Command::Bench { real: true, .. } => {
            eprintln!(
                "error: this zkstorm is the simulation build; `bench --real` runs real servers.\n\
                 Build it without --cfg madsim and run that binary:\n  \
                 RUSTFLAGS= cargo build --release -p zkstorm-sim --target-dir target/real\n  \
                 target/real/release/zkstorm bench --real"
            );
            cli::EXIT_BAD_INPUT
        }
        Command::Bench {
            json,
            secs,
            scenarios,
            only,
            fuzz_child,
            real: false,
        } => match fuzz_child {
            Some(jobs) => zkstorm_sim::bench::fuzz_child(jobs, secs),
            None => zkstorm_sim::bench::run(&zkstorm_sim::bench::Options {
                scenarios,
                secs,
                json,
                only,
            }),
        },
        Command::Server { .. } => {
            eprintln!(
                "error: this zkstorm is the simulation build; `zkstorm server` runs for real.\n\
                 Build it without --cfg madsim and run that binary:\n  \
                 RUSTFLAGS= cargo build --release -p zkstorm-sim --target-dir target/real\n  \
                 target/real/release/zkstorm server --config zoo.cfg [--id N]"
            );
            cli::EXIT_BAD_INPUT
        }
    };
    ExitCode::from(code)
}
