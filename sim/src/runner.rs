//! Running one seed: a fresh madsim runtime on a fresh OS thread (std's
//! HashMap seeds are deterministic only then), with a time limit.

use std::future::Future;
use std::ops::RangeInclusive;
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
    use super::parse_seeds;

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
