//! The whole checker set over real runs: the standard chaos run (crashes,
//! restarts, isolated leaders, minority partitions, then heal; see
//! `generate::chaos`) must pass every named check. Seeds from
//! `ZKSTORM_SEEDS` (default 0..5).

use zkstorm_sim::check::{run, CheckOptions, Family, Verdict};
use zkstorm_sim::generate::{chaos, draw};
use zkstorm_sim::history::{Call, Event, Record, Ret};
use zkstorm_sim::runner::seeds_from_env;
use zkstorm_sim::scenario::{run_seed, RunReport};

/// The chaos run of `seed` on `servers` servers.
fn chaos_run(servers: usize, seed: u64) -> RunReport {
    let sc = draw(&chaos(servers, &[]), seed);
    run_seed(&sc, seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"))
}

fn failures(
    servers: usize,
    seeds: std::ops::Range<u64>,
    opts: &CheckOptions,
    what: &str,
) -> Vec<String> {
    let mut bad = Vec::new();
    for seed in seeds {
        let o = chaos_run(servers, seed);
        for (check, verdict) in ensemble_checks(&o.history.records(), opts) {
            if let Some(reason) = verdict.reason() {
                bad.push(format!(
                    "seed {seed}: {check}: {} {reason}\n  replay: ZKSTORM_SEEDS={seed} cargo test --test checkers {what}",
                    verdict.label()
                ));
            }
        }
    }
    bad
}

#[test]
fn chaos_runs_pass_every_check() {
    let opts = CheckOptions {
        // Generous: the chaos run heals by ~25 s and its clients stop at 30 s.
        liveness_bound_ms: 20_000,
        ..CheckOptions::default()
    };
    let mut bad = failures(
        3,
        seeds_from_env(0..5),
        &opts,
        "chaos_runs_pass_every_check",
    );
    // Five servers: two may be down at once.
    bad.extend(failures(
        5,
        seeds_from_env(0..2),
        &opts,
        "chaos_runs_pass_every_check",
    ));
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The checkers bite on real histories: a run that passes, tampered with in
/// one place, fails the check that guards that place.
#[test]
fn tampered_real_histories_fail() {
    let o = chaos_run(3, 1);
    let records = o.history.records();
    let opts = CheckOptions {
        liveness_bound_ms: 20_000,
        ..CheckOptions::default()
    };
    let verdict = |rs: &[Record], check: &str| ensemble_checks(rs, &opts).remove(check).unwrap();
    for (check, v) in ensemble_checks(&records, &opts) {
        assert_eq!(v, Verdict::Pass, "{check} on the untouched history");
    }

    // A server skips a txn in the middle of its run.
    let mut rs = records.clone();
    let i = rs
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.event, Event::Delivered { sid: 2, .. }))
        .nth(100)
        .map(|(i, _)| i)
        .unwrap();
    rs.remove(i);
    assert!(verdict(&rs, "zab.total_order").is_fail());

    // A server applies a different txn than the others at one zxid.
    let mut rs = records.clone();
    let i = rs
        .iter()
        .rposition(|r| matches!(r.event, Event::Delivered { .. }))
        .unwrap();
    if let Event::Delivered { body, .. } = &mut rs[i].event {
        *body ^= 1;
    }
    assert!(verdict(&rs, "zab.agreement").is_fail());
    assert!(verdict(&rs, "zab.integrity").is_fail());

    // A synced read returns a value nobody wrote.
    let mut rs = records.clone();
    let synced_read = (1..rs.len())
        .find(|&i| {
            let Event::Complete {
                client,
                op,
                ret: Ret::Node { .. },
                ..
            } = &rs[i].event
            else {
                return false;
            };
            rs.iter().any(|r| {
                matches!(&r.event, Event::Complete { client: c, op: o, outcome, .. }
                    if c == client && *o + 1 == *op && outcome.is_ok())
            }) && rs.iter().any(|r| {
                matches!(&r.event, Event::Invoke { client: c, op: o, call: Call::Sync, .. }
                    if c == client && *o + 1 == *op)
            })
        })
        .expect("a synced read");
    if let Event::Complete {
        ret: Ret::Node { value, .. },
        ..
    } = &mut rs[synced_read].event
    {
        *value = "c9-999999".into();
    }
    assert!(verdict(&rs, "client.linearizable").is_fail());
    assert!(verdict(&rs, "client.sequential").is_fail());

    // A watch fires twice.
    let mut rs = records.clone();
    let i = rs
        .iter()
        .position(|r| matches!(r.event, Event::Watch { .. }))
        .expect("a watch event");
    let again = rs[i].clone();
    rs.insert(i + 1, again);
    assert!(verdict(&rs, "client.watches").is_fail());

    // An answer from the past.
    let mut rs = records.clone();
    let i = rs
        .iter()
        .rposition(|r| matches!(&r.event, Event::Complete { outcome, .. } if outcome.is_ok()))
        .unwrap();
    if let Event::Complete { zxid, .. } = &mut rs[i].event {
        *zxid = 1;
    }
    assert!(verdict(&rs, "client.sequential").is_fail());

    // One server ends with a different tree.
    let mut rs = records.clone();
    let i = rs
        .iter()
        .rposition(|r| matches!(r.event, Event::ServerState { .. }))
        .unwrap();
    if let Event::ServerState { digest, .. } = &mut rs[i].event {
        *digest = digest.map(|d| d ^ 1);
    }
    assert!(verdict(&rs, "converged").is_fail());

    // The ensemble stops answering after the heal.
    let healed = records
        .iter()
        .rposition(|r| matches!(r.event, Event::Fault { .. }))
        .unwrap();
    let rs: Vec<Record> = records[..=healed].to_vec();
    assert!(verdict(&rs, "liveness").is_fail());
}

/// `ZKSTORM_SEEDS=N cargo test --test checkers dump -- --ignored` writes the
/// run's history to /tmp/zkstorm-history-N.txt, one record a line
/// (`ZKSTORM_SERVERS=5` for a 5-server run).
#[test]
#[ignore]
fn dump() {
    for seed in seeds_from_env(0..1) {
        let servers = std::env::var("ZKSTORM_SERVERS").map_or(3, |s| s.parse().unwrap());
        let o = chaos_run(servers, seed);
        let mut s = String::new();
        for (i, r) in o.history.records().iter().enumerate() {
            s.push_str(&format!("{i} {} {:?}\n", r.t_ms, r.event));
        }
        std::fs::write(format!("/tmp/zkstorm-history-{seed}.txt"), s).unwrap();
    }
}

/// Every check but the storm ones: these runs have no topology.
fn ensemble_checks(
    records: &[Record],
    opts: &CheckOptions,
) -> std::collections::BTreeMap<&'static str, Verdict> {
    run(records, opts, |f| f != Family::Storm)
}
