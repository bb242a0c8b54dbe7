//! Shrinking: a failing run comes back as a small scenario file that still
//! fails the same check on the same seed.
#![cfg(madsim)]

use zkstorm_sim::scenario::{run_seed, Action, Scenario};
use zkstorm_sim::shrink::{render, shrink, Failure};

/// Five faults, of which one matters: the leader crashes 100 ms before
/// the heal, so no write can commit within the 300 ms liveness bound.
const FIVE_FAULTS: &str = r#"
name = "shrink-me"
duration = "14s"
[ensemble]
servers = 3
[workload]
clients = 3
rate = 20
[[fault]]
at = "2s"
latency = ["5ms", "20ms"]
until = "4s"
[[fault]]
at = "3s"
isolate = "follower"
until = "5s"
[[fault]]
at = "4s"
packet_loss = 0.1
until = "6s"
[[fault]]
at = "7.9s"
crash = "leader"
until = "8s"
[[fault]]
at = "7s"
slow_fsync = { target = "random", min = "5ms", max = "10ms" }
until = "8s"
[check]
liveness = "300ms"
"#;

#[test]
fn a_failure_shrinks_to_the_fault_that_causes_it() {
    let sc = Scenario::parse(FIVE_FAULTS, "shrink-me.toml").unwrap();
    let seed = 3;
    let first = run_seed(&sc, seed).unwrap();
    assert!(first.checks["liveness"].is_fail(), "{:?}", first.checks);
    let s = shrink(&sc, seed, &Ok(first.clone()), 60).expect("it failed");
    assert_eq!(s.failure, Failure::Check("liveness".into()));
    assert_eq!(s.faults_before, 5);
    assert_eq!(s.scenario.faults.len(), 1, "{}", s.scenario.to_toml());
    assert!(
        matches!(&s.scenario.faults[0].action, Action::Crash(t) if t.0.len() == 1),
        "{}",
        s.scenario.to_toml()
    );
    // One client is enough, and the run ends a second after the bound.
    assert_eq!(s.scenario.workload.clients, 1);
    assert_eq!(s.scenario.duration, std::time::Duration::from_millis(9_300));
    // The file replays to the same failing check.
    let text = render(&s, seed, "failures/liveness-seed-3.toml");
    assert!(
        text.starts_with("# Found by `zkstorm fuzz` (seed 3)"),
        "{text}"
    );
    assert!(text.contains("# Fails liveness: "), "{text}");
    // How much shrinking removed, the answered ops included.
    assert!(s.ops.1 < s.ops.0, "{:?}", s.ops);
    assert!(
        text.contains(&format!("answered ops {} -> {}", s.ops.0, s.ops.1)),
        "{text}"
    );
    let again = Scenario::parse(&text, "failures/liveness-seed-3.toml").unwrap();
    let r = run_seed(&again, seed).unwrap();
    assert!(r.checks["liveness"].is_fail(), "{:?}", r.checks);
}

/// After removal, the faults that stay are made milder while the failure
/// holds: a rule that powers off two ACKing followers needs only one, and a
/// partition need not last as long.
#[test]
fn the_faults_that_stay_are_made_milder() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/ack-then-power-loss.toml"
    );
    let mut sc = Scenario::load(std::path::Path::new(path)).unwrap();
    sc.bugs = vec!["ack-before-fsync".into()];
    let seed = 1;
    let first = run_seed(&sc, seed).unwrap();
    assert!(first.checks["zab.ack_durable"].is_fail());
    let s = shrink(&sc, seed, &Ok(first.clone()), 120).expect("it failed");
    let again = run_seed(&s.scenario, seed).unwrap();
    assert!(
        again.checks[s.failure.name()].is_fail(),
        "{}",
        render(&s, seed, "x")
    );
    let rule = s
        .scenario
        .faults
        .iter()
        .find_map(|f| match &f.action {
            Action::OnMessage(m) => Some(m.count),
            _ => None,
        })
        .expect("the ACK rule stays");
    assert_eq!(rule, 1, "{}", render(&s, seed, "x"));
    assert!(
        s.scenario.workload.rate < sc.workload.rate,
        "{}",
        render(&s, seed, "x")
    );
}
