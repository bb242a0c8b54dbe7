//! Running one seed: a fresh madsim runtime on a fresh OS thread (std's
//! HashMap seeds are deterministic only then), with a time limit.

use std::future::Future;
use std::time::Duration;

/// Run `f` inside a new simulation seeded with `seed`; panics inside the
/// simulation come back as `Err` with their message.
pub fn run_seed<F, Fut, T>(seed: u64, limit: Duration, f: F) -> Result<T, String>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let thread = std::thread::Builder::new()
        .name(format!("seed-{seed}"))
        .spawn(move || {
            let mut rt =
                madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            rt.set_time_limit(limit);
            rt.block_on(f())
        })
        .map_err(|e| format!("spawn: {e}"))?;
    thread.join().map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

/// Seeds from `ZKSTORM_SEEDS` ("A..B" or "N"), else the given default range.
pub fn seeds_from_env(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    match std::env::var("ZKSTORM_SEEDS") {
        Ok(s) => {
            parse_seeds(&s).unwrap_or_else(|| panic!("ZKSTORM_SEEDS={s:?}: expected A..B or N"))
        }
        Err(_) => default,
    }
}

pub fn parse_seeds(s: &str) -> Option<std::ops::Range<u64>> {
    if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        (a < b).then_some(a..b)
    } else {
        let n: u64 = s.trim().parse().ok()?;
        Some(n..n + 1)
    }
}
