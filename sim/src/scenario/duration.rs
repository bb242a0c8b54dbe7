//! Durations as scenario files write them: `"8s"`, `"200ms"`, `"1.5s"`,
//! `"2m"`, `"1m30s"`.
//!
//! Grammar: one or more `<number><unit>` parts, no spaces, no sign. A number
//! is digits with an optional fraction (`1.5`); a unit is `ns`, `us`, `ms`,
//! `s`, `m` or `h`. The value must be a whole number of nanoseconds and at
//! most 24 hours (a simulated run is minutes long; anything bigger is a typo).

use std::fmt;
use std::time::Duration;

/// The longest duration a scenario may name.
pub const MAX: Duration = Duration::from_secs(24 * 3600);

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a duration; the error says what is wrong, in one line.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = |why: String| Err(format!("bad duration {text:?}: {why}"));
    if text.is_empty() {
        return bad("empty (write e.g. \"8s\", \"200ms\", \"1.5s\" or \"2m\")".into());
    }
    if text.starts_with('-') {
        return bad("durations cannot be negative".into());
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int = &text[start..i];
        let mut frac = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let f = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac = &text[f..i];
            if frac.is_empty() {
                return bad("a digit must follow the decimal point".into());
            }
        }
        if int.is_empty() && frac.is_empty() {
            let c = text[i..].chars().next().unwrap_or(' ');
            return bad(if c.is_whitespace() {
                "no spaces allowed (write \"1.5s\", not \"1.5 s\")".into()
            } else {
                format!("expected a number at {:?}", &text[i..])
            });
        }
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &text[ustart..i];
        if unit.is_empty() {
            return bad(if i < bytes.len() && bytes[i].is_ascii_whitespace() {
                "no spaces allowed (write \"1.5s\", not \"1.5 s\")".into()
            } else if i < bytes.len() {
                format!("unexpected {:?}", &text[i..])
            } else {
                "missing unit (ns, us, ms, s, m or h), as in \"200ms\" or \"8s\"".into()
            });
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return bad(format!(
                "unknown unit {unit:?} (expected ns, us, ms, s, m or h)"
            ));
        };
        let nanos = match part_nanos(int, frac, scale) {
            Ok(n) => n,
            Err(why) => return bad(why.into()),
        };
        // Checked: a wrapped sum would pass the 24h limit as a tiny value.
        total = match total.checked_add(nanos) {
            Some(t) if t <= MAX.as_nanos() => t,
            _ => return bad(TOO_LARGE.into()),
        };
    }
    Ok(Duration::from_nanos(total as u64))
}

const TOO_LARGE: &str = "too large (longer than 24h)";

/// Nanoseconds of one `<int>.<frac><unit>` part, with every step checked.
fn part_nanos(int: &str, frac: &str, scale: u128) -> Result<u128, &'static str> {
    // More digits than u128 holds is far past the limit anyway.
    let whole: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| TOO_LARGE)?
    };
    let mut nanos = whole.checked_mul(scale).ok_or(TOO_LARGE)?;
    if !frac.is_empty() {
        if frac.len() > 18 {
            return Err("too many decimal places");
        }
        // < 10^18 times at most 3.6 * 10^12: fits in u128.
        let scaled = frac.parse::<u128>().map_err(|_| TOO_LARGE)? * scale;
        let denom = 10u128.pow(frac.len() as u32);
        if !scaled.is_multiple_of(denom) {
            return Err("finer than a nanosecond");
        }
        nanos = nanos.checked_add(scaled / denom).ok_or(TOO_LARGE)?;
    }
    Ok(nanos)
}

/// Writes a duration so that [`parse`] reads it back exactly, in the
/// largest unit that keeps it whole: `8s`, `200ms`, `1500us`, `2m`.
pub fn format(d: Duration) -> String {
    let n = d.as_nanos();
    if n == 0 {
        return "0s".into();
    }
    for &(unit, scale) in UNITS.iter().rev() {
        if unit == "h" || unit == "m" {
            // Minutes and hours only when whole; "90s" reads better than "1.5m".
            if n.is_multiple_of(scale) {
                return format!("{}{unit}", n / scale);
            }
            continue;
        }
        if n.is_multiple_of(scale) {
            return format!("{}{unit}", n / scale);
        }
        // Seconds and milliseconds with a short fraction: "1.5s", "2.25ms".
        if scale >= 1_000_000 && n > scale && (n * 1000).is_multiple_of(scale) {
            let whole = n / scale;
            let frac = (n % scale) * 1000 / scale;
            let s = format!("{whole}.{frac:03}");
            return format!("{}{unit}", s.trim_end_matches('0'));
        }
    }
    format!("{n}ns")
}

/// A duration in a scenario file: deserialized from a string by [`parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"8s\", \"200ms\", \"1.5s\" or \"2m\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Dur, E> {
                parse(s).map(Dur).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "bad duration {v}: give a unit, as in \"{v}s\" or \"{v}ms\""
                )))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dur, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "bad duration {v}: write it as a string with a unit, as in \"{v}s\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("8s"), Ok(ms(8000)));
        assert_eq!(parse("200ms"), Ok(ms(200)));
        assert_eq!(parse("1.5s"), Ok(ms(1500)));
        assert_eq!(parse("2m"), Ok(ms(120_000)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("0s"), Ok(ms(0)));
        assert_eq!(parse(".5s"), Ok(ms(500)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn rejects_with_a_reason() {
        for (text, why) in [
            ("", "empty"),
            ("8", "missing unit"),
            ("8x", "unknown unit \"x\""),
            ("8 s", "no spaces"),
            ("-1s", "negative"),
            ("1.s", "digit must follow"),
            ("s", "expected a number"),
            ("1.0000000001s", "finer than a nanosecond"),
            ("25h", "longer than 24h"),
            ("24h1ns", "longer than 24h"),
            ("99999999999999999999999999999999999999999h", "too large"),
            ("1s!", "expected a number at \"!\""),
            ("1ms5", "missing unit"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
            assert!(e.starts_with("bad duration"), "{e}");
        }
    }

    /// Sums that overflow u128 (or u64 nanoseconds) are errors, not wrapped.
    #[test]
    fn huge_values_are_rejected_not_wrapped() {
        for text in [
            "340282366920938463463374607431768211.5us",
            "340282366920938463463374607431768211455ns",
            "340282366920938463463374607431768211456ns",
            "18446744073709551616ns",
            "18446744073709551615ns",
            "24h1ns",
            "23h61m",
            "999999999999999999999999999999999999.999999999999999999h",
            "1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h",
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                e.contains("longer than 24h") || e.contains("too large"),
                "{text:?}: {e}"
            );
        }
        assert_eq!(parse("24h"), Ok(MAX));
        assert_eq!(
            parse("23h59m59.999999999s"),
            Ok(MAX - Duration::from_nanos(1))
        );
    }

    #[test]
    fn format_round_trips() {
        for d in [
            ms(0),
            ms(1),
            ms(200),
            ms(1500),
            ms(8000),
            ms(90_000),
            ms(120_000),
            Duration::from_micros(1250),
            Duration::from_nanos(7),
            Duration::from_nanos(1_000_000_001),
        ] {
            let s = format(d);
            assert_eq!(parse(&s), Ok(d), "{s}");
        }
        assert_eq!(format(ms(1500)), "1.5s");
        assert_eq!(format(ms(120_000)), "2m");
        assert_eq!(format(ms(200)), "200ms");
    }
}
