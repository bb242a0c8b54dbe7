//! Exactly-once batches on the in-process cluster: exact counts with and
//! without worker crashes, in both state kinds, and the injectable commit
//! bugs caught.

use super::state::{StateKind, Stored};
use super::{ATTEMPTS_KEY, CURRTX_KEY};
use crate::storm::builtin::{expected_counts, sentences, Batches, WordCount};
use crate::storm::local::LocalCluster;
use crate::storm::message::StormEvent;
use crate::storm::topology::{Topology, TopologyConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn batched(n: usize, state: StateKind) -> (Topology, Vec<String>) {
    let log = sentences(n, 3);
    let cfg = TopologyConfig {
        workers: 3,
        message_timeout: ms(2000),
        ..Default::default()
    };
    let wc = WordCount {
        rate: Some(100.0),
        // A slow count bolt: a batch takes tens of ms, so crashes land
        // inside batches and commits.
        count_cost: Some(ms(2)),
        batches: Some(Batches {
            state,
            size: 20,
            window: 3,
        }),
        ..Default::default()
    };
    (wc.build(Arc::new(log.clone()), cfg).expect("valid"), log)
}

/// The committed state: each key's value.
fn state(c: &LocalCluster) -> BTreeMap<String, i64> {
    super::committed(c.saved())
}

/// Run for `secs`, restarting worker `w` at each of `crashes` (ms).
fn run(t: &Topology, seed: u64, crashes: &[(u64, usize)], secs: u64) -> LocalCluster {
    let mut c = LocalCluster::start(t, seed).expect("starts");
    for &(at, w) in crashes {
        c.run_until(ms(at));
        c.restart(w);
    }
    c.run_until(Duration::from_secs(secs));
    c
}

fn replays(c: &LocalCluster) -> usize {
    c.events()
        .iter()
        .filter(|(_, e)| matches!(e, StormEvent::SpoutFailed { .. }))
        .count()
}

#[test]
fn batches_count_exactly_and_commit_every_txid_in_order() {
    let (t, log) = batched(200, StateKind::Transactional);
    let c = run(&t, 1, &[], 20);
    assert_eq!(state(&c), expected_counts(&log));
    assert_eq!(c.saved().get(CURRTX_KEY).map(String::as_str), Some("11"));
    assert_eq!(c.saved().get(ATTEMPTS_KEY).map(String::as_str), Some("{}"));
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, e) in c.events() {
        if let StormEvent::Saved { key, value, .. } = e {
            if let Ok(s) = serde_json::from_str::<Stored>(value) {
                let prev = last.insert(key, s.txid).unwrap_or(0);
                assert!(s.txid > prev, "{key}: txid {} after {prev}", s.txid);
            }
        }
    }
}

/// Crashes of every worker at awkward moments: batches fail and replay,
/// and the counts stay exact.
fn crashes() -> Vec<(u64, usize)> {
    (0..12).map(|i| (130 + 97 * i, (i % 3) as usize)).collect()
}

#[test]
fn worker_crashes_replay_batches_without_counting_twice() {
    for kind in [StateKind::Transactional, StateKind::Opaque] {
        let (t, log) = batched(200, kind);
        let c = run(&t, 2, &crashes(), 40);
        assert!(replays(&c) > 0, "{kind:?}: the crashes failed no batch");
        assert_eq!(state(&c), expected_counts(&log), "{kind:?}");
    }
}

#[test]
fn a_committer_that_ignores_the_txid_is_caught_counting_twice() {
    // The worker of one committer dies mid-commit: the other committers
    // have applied the batch, which is replayed.
    let crash = [(150, 2)];
    let (t, log) = batched(200, StateKind::Transactional);
    assert_eq!(state(&run(&t, 1, &crash, 40)), expected_counts(&log));
    crate::bugs::enable(&["storm-commit-ignores-txid".into()]).unwrap();
    let buggy = state(&run(&t, 1, &crash, 40));
    crate::bugs::enable(&[]).unwrap();
    let want = expected_counts(&log);
    assert!(
        buggy.iter().any(|(k, v)| *v > want[k]),
        "nothing counted twice"
    );
}

#[test]
fn out_of_order_commits_are_seen_in_the_saved_txids() {
    crate::bugs::enable(&["storm-commit-out-of-order".into()]).unwrap();
    let (t, _) = batched(200, StateKind::Transactional);
    let c = run(&t, 1, &crashes(), 40);
    crate::bugs::enable(&[]).unwrap();
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    let mut backwards = 0;
    for (_, e) in c.events() {
        if let StormEvent::Saved { key, value, .. } = e {
            if let Ok(s) = serde_json::from_str::<Stored>(value) {
                backwards += usize::from(last.insert(key, s.txid).is_some_and(|p| p > s.txid));
            }
        }
    }
    assert!(backwards > 0, "no key saw a txid go backwards");
}

#[test]
fn batch_topologies_without_ackers_or_with_two_batch_spouts_are_refused() {
    use super::source::LogBatches;
    use crate::storm::topology::TopologyBuilder;
    let src = LogBatches {
        log: Arc::new(vec!["a b".into()]),
        size: 1,
        rate: None,
        field: "sentence",
    };
    let mut b = TopologyBuilder::new();
    b.set_batch_spout("one", src.clone(), 1, 1);
    b.set_batch_spout("two", src, 1, 1);
    let cfg = TopologyConfig {
        ackers: Some(0),
        ..Default::default()
    };
    let err = b.build("t", cfg).unwrap_err().to_string();
    assert!(err.contains("need ackers"), "{err}");
    assert!(
        err.contains("two") && err.contains("one batch spout"),
        "{err}"
    );
}

#[test]
fn the_counter_sums_every_number_once_through_crashes() {
    use crate::storm::builtin::{expected_sums, numbers, Counter};
    let log = numbers(300, 5);
    let cfg = TopologyConfig {
        workers: 3,
        message_timeout: ms(2000),
        ..Default::default()
    };
    let counter = Counter {
        rate: None,
        keys: 7,
        partitions: 2,
        buckets: 2,
        summers: 3,
        batches: Batches {
            state: StateKind::Opaque,
            size: 25,
            window: 2,
        },
    };
    let t = counter.build(Arc::new(log.clone()), cfg).expect("valid");
    // All input at once: batches run back to back, and crashes land in them.
    let crashes: Vec<(u64, usize)> = (0..6).map(|i| (2 + 5 * i, (i % 3) as usize)).collect();
    let c = run(&t, 3, &crashes, 40);
    assert!(replays(&c) > 0, "no batch failed");
    assert_eq!(state(&c), expected_sums(&log, 7));
}
