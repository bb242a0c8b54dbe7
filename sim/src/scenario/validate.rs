//! Raw file → validated [`Scenario`]: every check that needs more than the
//! TOML grammar, each failing with the line and column of the offending value.

use super::error::{ErrorKind, ScenarioError};
use super::fault::{keys_where, Cx, Lasts, RawAction, RawFault, ACTION_KEYS};
use super::locate::Locator;
use super::schema::*;
use std::time::Duration;
use toml::Spanned;

/// Limits (and defaults) of the format.
pub mod limits {
    use std::time::Duration;
    pub const MAX_SERVERS: i64 = 15;
    pub const MAX_CLIENTS: i64 = 64;
    pub const MAX_DURATION: Duration = Duration::from_secs(3600);
    pub const MAX_LATENCY: Duration = Duration::from_secs(10);
    pub const MAX_FSYNC: Duration = Duration::from_secs(60);
    pub const MAX_PACKET_LOSS: f64 = 0.9;
    pub const DEFAULT_SETTLE: Duration = Duration::from_secs(20);
    pub const DEFAULT_TICK: Duration = Duration::from_millis(200);
    pub const DEFAULT_LATENCY: (Duration, Duration) =
        (Duration::from_millis(1), Duration::from_millis(10));
    pub const DEFAULT_FSYNC: (Duration, Duration) =
        (Duration::from_millis(1), Duration::from_millis(3));
}
use limits::*;

pub(crate) struct V<'a> {
    pub loc: &'a Locator<'a>,
}

type R<T> = Result<T, ScenarioError>;

impl V<'_> {
    pub fn err(
        &self,
        offset: usize,
        field: impl Into<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, column) = self.loc.line_col(offset);
        ScenarioError {
            file: self.loc.file.to_string(),
            line,
            column,
            field: field.into(),
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn at<T>(
        &self,
        s: &Spanned<T>,
        field: &str,
        kind: ErrorKind,
        msg: impl Into<String>,
    ) -> ScenarioError {
        self.err(s.span().start, field, kind, msg)
    }

    pub(crate) fn int(&self, v: &Spanned<Int>, field: &str, lo: i64, hi: i64) -> R<i64> {
        let x = v.get_ref().0;
        if x < lo.into() || x > hi.into() {
            return Err(self.at(
                v,
                field,
                ErrorKind::OutOfRange,
                format!("{x} is out of range (expected {lo}..={hi})"),
            ));
        }
        Ok(x as i64)
    }

    pub(crate) fn prob(&self, v: &Spanned<Num>, field: &str, hi: f64) -> R<f64> {
        let x = v.get_ref().0;
        if !(0.0..=hi).contains(&x) || x.is_nan() {
            return Err(self.at(
                v,
                field,
                ErrorKind::OutOfRange,
                format!("{x} is out of range (expected 0..={hi})"),
            ));
        }
        Ok(x)
    }

    pub(crate) fn whole_ms(&self, v: &Spanned<super::duration::Dur>, field: &str) -> R<Duration> {
        let d = v.get_ref().0;
        if !d.as_nanos().is_multiple_of(1_000_000) {
            return Err(self.at(
                v,
                field,
                ErrorKind::OutOfRange,
                format!("{} is not a whole number of milliseconds (this setting has millisecond resolution)", v.get_ref()),
            ));
        }
        Ok(d)
    }

    /// `[min, max]` durations.
    pub(crate) fn range(
        &self,
        v: &Spanned<Vec<Spanned<super::duration::Dur>>>,
        field: &str,
        max: Duration,
        whole_ms: bool,
    ) -> R<(Duration, Duration)> {
        let items = v.get_ref();
        if items.len() != 2 {
            return Err(self.at(
                v,
                field,
                ErrorKind::Invalid,
                format!(
                    "expected [min, max], two durations, got {} value(s)",
                    items.len()
                ),
            ));
        }
        let get = |i: usize| -> R<Duration> {
            let f = format!("{field}[{i}]");
            let d = if whole_ms {
                self.whole_ms(&items[i], &f)?
            } else {
                items[i].get_ref().0
            };
            if d > max {
                return Err(self.at(
                    &items[i],
                    &f,
                    ErrorKind::OutOfRange,
                    format!(
                        "{} is more than the allowed {}",
                        items[i].get_ref(),
                        super::duration::format(max)
                    ),
                ));
            }
            Ok(d)
        };
        let (lo, hi) = (get(0)?, get(1)?);
        if lo > hi {
            return Err(self.at(
                &items[1],
                &format!("{field}[1]"),
                ErrorKind::OutOfRange,
                format!(
                    "max {} is below min {}",
                    items[1].get_ref(),
                    items[0].get_ref()
                ),
            ));
        }
        Ok((lo, hi))
    }
}

pub(crate) fn scenario(raw: RawScenario, v: &V) -> R<Scenario> {
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() || name.contains('\n') {
        return Err(v.at(
            &raw.name,
            "name",
            ErrorKind::Invalid,
            "the name must be one non-empty line",
        ));
    }
    let duration = raw.duration.get_ref().0;
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(v.at(
            &raw.duration,
            "duration",
            ErrorKind::OutOfRange,
            format!(
                "{} is out of range (expected more than 0s, at most 1h)",
                raw.duration.get_ref()
            ),
        ));
    }
    let settle = match &raw.settle {
        None => DEFAULT_SETTLE,
        Some(s) if s.get_ref().0.is_zero() || s.get_ref().0 > MAX_DURATION => {
            return Err(v.at(
                s,
                "settle",
                ErrorKind::OutOfRange,
                format!(
                    "{} is out of range (expected more than 0s, at most 1h)",
                    s.get_ref()
                ),
            ));
        }
        Some(s) => s.get_ref().0,
    };
    let ensemble = ensemble(raw.ensemble.get_ref(), v)?;
    let workload = workload(&raw.workload, &ensemble, v)?;
    let network = NetworkSpec {
        latency: match &raw.network.latency {
            Some(l) => v.range(l, "network.latency", MAX_LATENCY, false)?,
            None => DEFAULT_LATENCY,
        },
        packet_loss: match &raw.network.packet_loss {
            Some(p) => v.prob(p, "network.packet_loss", MAX_PACKET_LOSS)?,
            None => 0.0,
        },
    };
    let disk = DiskSpec {
        fsync_latency: match &raw.disk.fsync_latency {
            Some(l) => v.range(l, "disk.fsync_latency", MAX_FSYNC, true)?,
            None => DEFAULT_FSYNC,
        },
        tear_probability: match &raw.disk.tear_probability {
            Some(p) => v.prob(p, "disk.tear_probability", 1.0)?,
            None => 0.5,
        },
        garbage_probability: match &raw.disk.garbage_probability {
            Some(p) => v.prob(p, "disk.garbage_probability", 1.0)?,
            None => 0.25,
        },
    };
    let topology = match &raw.topology {
        Some(t) => Some(super::topology::validate(t.get_ref(), duration, v)?),
        None => None,
    };
    let mut faults = Vec::new();
    for (i, f) in raw.faults.iter().enumerate() {
        let spec = fault(
            i,
            f,
            &ensemble,
            &workload,
            topology.as_ref(),
            duration,
            &faults,
            v,
        )?;
        faults.push(spec);
    }
    let storm = match &raw.check.storm {
        Some(b) if *b.get_ref() && topology.is_none() => {
            return Err(v.at(
                b,
                "check.storm",
                ErrorKind::Invalid,
                "the storm checks judge a topology, and the scenario has no [topology]",
            ))
        }
        Some(b) => *b.get_ref(),
        None => topology.is_some(),
    };
    let check = CheckSpec {
        storm,
        zab: raw.check.zab.unwrap_or(true),
        client: raw.check.client.unwrap_or(true),
        linearizable: raw.check.linearizable.unwrap_or(false),
        linearizable_steps: match &raw.check.linearizable_steps {
            Some(n) => v.int(n, "check.linearizable_steps", 1, 1_000_000_000_000)? as u64,
            None => crate::check::STEP_LIMIT,
        },
        liveness: match &raw.check.liveness {
            None => None,
            Some(l) => {
                let d = l.get_ref().0;
                if d.is_zero() {
                    return Err(v.at(
                        l,
                        "check.liveness",
                        ErrorKind::OutOfRange,
                        "liveness must be more than 0s",
                    ));
                }
                if workload.clients == 0 {
                    return Err(v.at(
                        l,
                        "check.liveness",
                        ErrorKind::Invalid,
                        "liveness is judged by client operations, and the workload has no clients",
                    ));
                }
                let m = &workload.mix;
                if m[0] + m[1] + m[3] + m[4] + m[5] + m[6] + workload.ephemeral == 0 {
                    return Err(v.at(
                        l,
                        "check.liveness",
                        ErrorKind::Invalid,
                        "liveness needs committed writes, and the workload mix has no create, set, delete, sync, multi, sequential or ephemeral weight",
                    ));
                }
                let end = timeline_end(&faults, &workload);
                if end + d > duration {
                    return Err(v.at(
                        l,
                        "check.liveness",
                        ErrorKind::OutOfRange,
                        format!(
                            "the last fault ends at {} and liveness allows {} after that, past the end of the load \
                             (duration = {}): the clients must still run to show progress — lengthen duration or end the faults earlier",
                            super::duration::format(end),
                            l.get_ref(),
                            raw.duration.get_ref()
                        ),
                    ));
                }
                Some(d)
            }
        },
    };
    let mut bugs = Vec::new();
    for (i, b) in raw.bugs.iter().enumerate() {
        if b.get_ref().parse::<zkstorm::bugs::Bug>().is_err() {
            let names = zkstorm::bugs::names();
            return Err(v.at(
                b,
                &format!("bugs[{i}]"),
                ErrorKind::Invalid,
                format!(
                    "unknown bug {:?}; the catalogue has: {}",
                    b.get_ref(),
                    names.join(", ")
                ),
            ));
        }
        bugs.push(b.get_ref().clone());
    }
    Ok(Scenario {
        name,
        about: raw.about.trim().to_string(),
        file: v.loc.file.to_string(),
        duration,
        settle,
        ensemble,
        workload,
        network,
        disk,
        faults,
        check,
        topology,
        bugs,
    })
}

/// When the fault timeline ends (the last `at` or revert); the runner heals
/// everything then.
pub(crate) fn timeline_end(faults: &[FaultSpec], w: &WorkloadSpec) -> Duration {
    faults
        .iter()
        .map(|f| f.end(w))
        .max()
        .unwrap_or(Duration::ZERO)
}

impl FaultSpec {
    /// When this fault is undone by the runner (its `until`, the implied end
    /// of a session expiry), or `at` if it is never undone on its own.
    pub fn end(&self, w: &WorkloadSpec) -> Duration {
        match self.until {
            Some(u) => u,
            None => self.action.fault().end(self.at, w),
        }
    }
}

fn ensemble(e: &RawEnsemble, v: &V) -> R<EnsembleSpec> {
    let servers = v.int(&e.servers, "ensemble.servers", 1, MAX_SERVERS)? as usize;
    let tick = match &e.tick {
        Some(t) => {
            let d = v.whole_ms(t, "ensemble.tick")?;
            if d < Duration::from_millis(10) || d > Duration::from_secs(10) {
                return Err(v.at(
                    t,
                    "ensemble.tick",
                    ErrorKind::OutOfRange,
                    format!("{} is out of range (expected 10ms..=10s)", t.get_ref()),
                ));
            }
            d
        }
        None => DEFAULT_TICK,
    };
    let opt = |x: &Option<Spanned<Int>>, f: &str, lo, hi, d: u64| -> R<u64> {
        match x {
            Some(s) => Ok(v.int(s, f, lo, hi)? as u64),
            None => Ok(d),
        }
    };
    Ok(EnsembleSpec {
        servers,
        tick,
        init_limit: opt(&e.init_limit, "ensemble.init_limit", 1, 1000, 10)?,
        sync_limit: opt(&e.sync_limit, "ensemble.sync_limit", 1, 1000, 5)?,
        snap_count: opt(&e.snap_count, "ensemble.snap_count", 2, 10_000_000, 2000)?,
    })
}

fn workload(w: &RawWorkload, e: &EnsembleSpec, v: &V) -> R<WorkloadSpec> {
    let d = crate::workload::WorkloadConfig::default();
    let opt = |x: &Option<Spanned<Int>>, f: &str, lo, hi, d: usize| -> R<usize> {
        match x {
            Some(s) => Ok(v.int(s, f, lo, hi)? as usize),
            None => Ok(d),
        }
    };
    let rate = match &w.rate {
        Some(r) => {
            let x = r.get_ref().0;
            if !(x > 0.0 && x <= 1000.0) {
                return Err(v.at(r, "workload.rate", ErrorKind::OutOfRange, format!("{x} is out of range (expected more than 0, at most 1000 ops per client per second)")));
            }
            x
        }
        None => d.rate,
    };
    let (mix, ephemeral) = match &w.mix {
        None => (d.mix, d.ephemeral),
        Some(m) => {
            let mm = m.get_ref();
            let mut out = [0u32; 8];
            let given = [
                &mm.create,
                &mm.set,
                &mm.get,
                &mm.delete,
                &mm.sync,
                &mm.multi,
                &mm.sequential,
                &mm.children,
            ];
            for (i, (k, x)) in crate::workload::MIX_KEYS.iter().zip(given).enumerate() {
                if let Some(x) = x {
                    out[i] = v.int(x, &format!("workload.mix.{k}"), 0, 1_000_000)? as u32;
                }
            }
            let eph = match &mm.ephemeral {
                Some(x) => v.int(x, "workload.mix.ephemeral", 0, 1_000_000)? as u32,
                None => 0,
            };
            if out.iter().all(|x| *x == 0) && eph == 0 {
                return Err(v.at(
                    m,
                    "workload.mix",
                    ErrorKind::Invalid,
                    "every weight is 0: give at least one operation a weight",
                ));
            }
            (out, eph)
        }
    };
    let (lo, hi) = (e.tick * 2, e.tick * 20);
    let session_timeout = match &w.session_timeout {
        Some(s) => {
            let t = v.whole_ms(s, "workload.session_timeout")?;
            if t < lo || t > hi {
                return Err(v.at(
                    s,
                    "workload.session_timeout",
                    ErrorKind::OutOfRange,
                    format!(
                        "{} is outside what the servers grant (2..=20 ticks of {}: {}..={}); they would clamp it",
                        s.get_ref(),
                        super::duration::format(e.tick),
                        super::duration::format(lo),
                        super::duration::format(hi)
                    ),
                ));
            }
            t
        }
        None => Duration::from_millis(d.session_timeout_ms).clamp(lo, hi),
    };
    Ok(WorkloadSpec {
        clients: opt(&w.clients, "workload.clients", 0, MAX_CLIENTS, d.clients)?,
        rate,
        keys: opt(&w.keys, "workload.keys", 1, 100_000, d.keys)?,
        value_bytes: opt(
            &w.value_bytes,
            "workload.value_bytes",
            0,
            1 << 20,
            d.value_bytes,
        )?,
        pipeline: opt(&w.pipeline, "workload.pipeline", 1, 64, d.pipeline)?,
        conditional: opt(
            &w.conditional,
            "workload.conditional",
            0,
            100,
            d.conditional as usize,
        )? as u32,
        mix,
        ephemeral,
        session_timeout,
    })
}

#[allow(clippy::too_many_arguments)]
fn fault(
    index: usize,
    f: &Spanned<RawFault>,
    e: &EnsembleSpec,
    w: &WorkloadSpec,
    topology: Option<&super::topology::TopologySpec>,
    duration: Duration,
    earlier: &[FaultSpec],
    v: &V,
) -> R<FaultSpec> {
    let raw = f.get_ref();
    let base = format!("fault[{index}]");
    let header = v.loc.array_header("fault", index).unwrap_or(f.span().start);
    let line = v.loc.line_col(header).0;

    // Exactly one action.
    let mut actions: Vec<&RawAction> = raw.actions.iter().collect();
    actions.sort_by_key(|a| a.offset());
    match actions.len() {
        0 => {
            return Err(v.err(
                header,
                &base,
                ErrorKind::FaultAction,
                format!(
                    "the fault has no action (expected exactly one of {})",
                    ACTION_KEYS.join(", ")
                ),
            ))
        }
        1 => {}
        _ => {
            let (first, second) = (actions[0], actions[1]);
            return Err(v.err(
                second.offset(),
                format!("{base}.{}", second.key()),
                ErrorKind::FaultAction,
                format!(
                    "a fault takes exactly one action and this one already has {} (line {}); \
                     split them into two [[fault]] entries",
                    first.key(),
                    v.loc.line_col(first.offset()).0
                ),
            ));
        }
    }
    let action = actions[0];
    let key = action.key();
    let field = format!("{base}.{key}");

    let at = raw.at.get_ref().0;
    if at >= duration {
        return Err(v.at(
            &raw.at,
            &format!("{base}.at"),
            ErrorKind::OutOfRange,
            format!(
                "at {} is not before the end of the load (duration = {})",
                raw.at.get_ref(),
                super::duration::format(duration)
            ),
        ));
    }

    // until / heal_at.
    let (until_key, until) = match (&raw.until, &raw.heal_at) {
        (Some(_), Some(h)) => {
            return Err(v.at(
                h,
                &format!("{base}.heal_at"),
                ErrorKind::Invalid,
                "give until or heal_at, not both (they mean the same)",
            ));
        }
        (Some(u), None) => ("until", Some(u)),
        (None, Some(h)) => ("heal_at", Some(h)),
        (None, None) => ("until", None),
    };
    let lasts = action.lasts();
    if let Some(u) = until {
        let uf = format!("{base}.{until_key}");
        if let Lasts::Instant(why) = lasts {
            let why = if why.is_empty() {
                format!(
                    "this action is not undone later; only faults that last ({}) take one",
                    keys_where(|l| !matches!(l, Lasts::Instant(_)))
                )
            } else {
                why.to_string()
            };
            return Err(v.at(
                u,
                &uf,
                ErrorKind::Invalid,
                format!("{key} takes no {until_key}: {why}"),
            ));
        }
        if until_key == "heal_at" && lasts != Lasts::Cut {
            return Err(v.at(
                u,
                &uf,
                ErrorKind::Invalid,
                format!(
                    "heal_at is for network cuts ({}); for {key} write until",
                    keys_where(|l| l == Lasts::Cut)
                ),
            ));
        }
        let ud = u.get_ref().0;
        if ud <= at {
            return Err(v.at(
                u,
                &uf,
                ErrorKind::OutOfRange,
                format!(
                    "{until_key} {} is not after at {}",
                    u.get_ref(),
                    raw.at.get_ref()
                ),
            ));
        }
        if ud > duration {
            return Err(v.at(
                u,
                &uf,
                ErrorKind::OutOfRange,
                format!(
                    "{until_key} {} is past the end of the load (duration = {})",
                    u.get_ref(),
                    super::duration::format(duration)
                ),
            ));
        }
    }
    let until_offset = until.map(|u| u.span().start);
    let until = until.map(|u| u.get_ref().0);
    let cx = Cx {
        v,
        servers: e.servers,
        workload: w,
        topology,
        duration,
        index,
        at,
        until,
        until_offset,
        earlier,
        base: base.clone(),
        field,
        key,
    };
    let action = action.validate(&cx)?;
    Ok(FaultSpec {
        index,
        line,
        at,
        until,
        action,
    })
}
