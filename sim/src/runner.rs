//! Running one seed: a fresh madsim runtime on a fresh OS thread (std's
//! HashMap seeds are deterministic only then), with a limit on simulated
//! time and a wall-clock watchdog (a livelock that never advances simulated
//! time would otherwise hang the caller).

use std::future::Future;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Wall-clock time one seed may take by default; a run takes seconds.
pub const WALL_LIMIT: Duration = Duration::from_secs(1800);

/// Why a seed produced no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// The system under test (or the harness) panicked: the message.
    Panicked(String),
    /// No result within the wall-clock limit. The seed's thread is left
    /// running (a thread cannot be stopped); the process ends it on exit.
    Hung(Duration),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Panicked(p) => write!(f, "panicked: {p}"),
            RunError::Hung(d) => write!(f, "hung: no result after {} s of wall time", d.as_secs()),
        }
    }
}

/// Run `f` inside a new simulation seeded with `seed`; panics inside the
/// simulation come back as `Err` with their message. Past [`WALL_LIMIT`] of
/// wall time it gives up (see [`run_seed_within`]).
pub fn run_seed<F, Fut, T>(seed: u64, limit: Duration, f: F) -> Result<T, String>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    run_seed_within(seed, limit, WALL_LIMIT, f).map_err(|e| match e {
        RunError::Panicked(p) => p,
        hung => hung.to_string(),
    })
}

/// `run_seed` with its own wall-clock limit, and a typed error.
pub fn run_seed_within<F, Fut, T>(
    seed: u64,
    sim_limit: Duration,
    wall_limit: Duration,
    f: F,
) -> Result<T, RunError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("seed-{seed}"))
        .spawn(move || {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut rt =
                    madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
                rt.set_time_limit(sim_limit);
                rt.block_on(async move {
                    let out = f().await;
                    drop_every_node().await;
                    out
                })
            }));
            let _ = tx.send(run.map_err(|p| panic_message(&*p)));
        })
        .map_err(|e| RunError::Panicked(format!("spawn: {e}")))?;
    match rx.recv_timeout(wall_limit) {
        Ok(r) => r.map_err(RunError::Panicked),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(RunError::Hung(wall_limit)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(RunError::Panicked("the seed's thread died".into()))
        }
    }
}

/// Kill every node and let the runtime drop their tasks. A task that is
/// still waiting when a runtime ends is never freed (its waker sits in a
/// channel another waiting task owns), and with it the whole cluster it
/// holds: about 15 MiB a seed on leader-crash, for as long as the process
/// runs. Unnamed nodes cannot be named to `kill` and are left.
async fn drop_every_node() {
    let handle = madsim::runtime::Handle::current();
    let names = handle.metrics().num_tasks_by_node();
    for name in names.keys().filter(|n| !n.starts_with("node-")) {
        handle.kill(name.as_str());
    }
    // Killed tasks are dropped when the executor next meets them.
    tokio::task::yield_now().await;
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Run `f` on every seed `seeds` yields, on `threads` threads (each seed
/// on its own thread from `run_seed`, so this only bounds how many run at
/// once); results in seed order.
pub fn on_threads<T: Send>(
    seeds: impl Iterator<Item = u64> + Send,
    threads: usize,
    f: impl Fn(u64) -> T + Sync,
) -> Vec<(u64, T)> {
    let next = std::sync::Mutex::new(seeds);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let Some(seed) = next.lock().expect("seeds").next() else {
                    return;
                };
                let r = f(seed);
                results.lock().expect("results").push((seed, r));
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(seed, _)| *seed);
    results
}

/// Seeds from `ZKSTORM_SEEDS` (as [`parse_seeds`] reads them), else the
/// given default range.
pub fn seeds_from_env(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    match std::env::var("ZKSTORM_SEEDS") {
        Ok(s) => {
            let r = parse_seeds(&s).unwrap_or_else(|e| panic!("ZKSTORM_SEEDS={s:?}: {e}"));
            let end = r.end().checked_add(1).unwrap_or_else(|| {
                panic!(
                    "ZKSTORM_SEEDS={s:?}: the last seed must be below {}",
                    u64::MAX
                )
            });
            *r.start()..end
        }
        Err(_) => default,
    }
}

/// Seeds as written on the command line: `A..B` (B excluded), `A..=B`, or
/// one seed `N`. Strict: plain decimal digits, and never an empty range (an
/// empty range would "pass" without running anything).
pub fn parse_seeds(s: &str) -> Result<RangeInclusive<u64>, String> {
    let expected = "expected A..B (B excluded), A..=B or one seed N";
    if let Some((a, b)) = s.split_once("..") {
        let (inclusive, b) = match b.strip_prefix('=') {
            Some(b) => (true, b),
            None => (false, b),
        };
        let (a, b) = (seed(a, expected)?, seed(b, expected)?);
        let last = if inclusive { Some(b) } else { b.checked_sub(1) };
        match last {
            Some(last) if a <= last => Ok(a..=last),
            _ => Err(format!("{s:?} is an empty range ({expected}, with A < B)")),
        }
    } else {
        let n = seed(s, expected)?;
        Ok(n..=n)
    }
}

/// One seed: decimal digits only (no sign, no spaces), at most u64::MAX.
fn seed(s: &str, expected: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a seed ({expected})"));
    }
    s.parse()
        .map_err(|_| format!("seed {s} is too large (at most {})", u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::{parse_seeds, run_seed_within, RunError};
    use std::time::Duration;

    /// Two tasks on a node, each waiting on a channel whose sender the other
    /// holds: a cycle no runtime drop breaks. Once the seed is over they are
    /// gone, and so is what they held.
    #[test]
    fn a_seeds_waiting_tasks_are_freed_when_it_ends() {
        let held = std::sync::Arc::new(());
        let mine = held.clone();
        let r = run_seed_within(
            1,
            Duration::from_secs(60),
            Duration::from_secs(60),
            move || async move {
                let node = madsim::runtime::Handle::current()
                    .create_node()
                    .name("waiter")
                    .build();
                let (tx_a, mut rx_a) = tokio::sync::mpsc::unbounded_channel::<()>();
                let (tx_b, mut rx_b) = tokio::sync::mpsc::unbounded_channel::<()>();
                node.spawn(async move {
                    let _keep = (mine, tx_b);
                    rx_a.recv().await
                });
                node.spawn(async move {
                    let _keep = tx_a;
                    rx_b.recv().await
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
            },
        );
        assert_eq!(r, Ok(()));
        assert_eq!(
            std::sync::Arc::strong_count(&held),
            1,
            "a task outlived its seed"
        );
    }

    /// A livelock that never advances simulated time is stopped by the
    /// wall-clock watchdog; a panic comes back as one.
    #[test]
    fn a_hung_or_panicking_seed_comes_back() {
        let spin = || async {
            loop {
                tokio::task::yield_now().await;
            }
        };
        let r: Result<(), _> =
            run_seed_within(1, Duration::from_secs(60), Duration::from_millis(300), spin);
        assert_eq!(r, Err(RunError::Hung(Duration::from_millis(300))));
        let r: Result<(), _> = run_seed_within(
            1,
            Duration::from_secs(60),
            Duration::from_secs(60),
            || async { panic!("boom") },
        );
        assert_eq!(r, Err(RunError::Panicked("boom".into())));
        let r = run_seed_within(
            1,
            Duration::from_secs(60),
            Duration::from_secs(60),
            || async { 7 },
        );
        assert_eq!(r, Ok(7));
    }

    #[test]
    fn seed_ranges() {
        assert_eq!(parse_seeds("3..5"), Ok(3..=4));
        assert_eq!(parse_seeds("3..=5"), Ok(3..=5));
        assert_eq!(parse_seeds("5..=5"), Ok(5..=5));
        assert_eq!(parse_seeds("7"), Ok(7..=7));
        assert_eq!(parse_seeds("18446744073709551615"), Ok(u64::MAX..=u64::MAX));
        assert_eq!(parse_seeds("0..=18446744073709551615"), Ok(0..=u64::MAX));
        for (bad, says) in [
            ("5..5", "empty range"),
            ("7..3", "empty range"),
            ("0..0", "empty range"),
            ("5..=4", "empty range"),
            ("", "not a seed"),
            ("..4", "not a seed"),
            ("1..", "not a seed"),
            ("1..2..3", "not a seed"),
            ("+3", "not a seed"),
            (" 3", "not a seed"),
            ("-1", "not a seed"),
            ("1.5", "not a seed"),
            ("18446744073709551616", "too large"),
        ] {
            let e = parse_seeds(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}
