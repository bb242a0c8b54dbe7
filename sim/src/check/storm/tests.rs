use super::{check, StormSpec};
use crate::check::Violation;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use zkstorm::storm::builtin::{expected_counts, sentences, SentenceSpout, WordCount};
use zkstorm::storm::local::LocalCluster;
use zkstorm::storm::message::StormEvent;
use zkstorm::storm::observe::NimbusEvent;
use zkstorm::storm::topology::{Topology, TopologyBuilder, TopologyConfig};
use zkstorm::storm::{Bolt, BoltCollector, OutputDeclarer, TaskError, Tuple};

fn names(found: &[Violation]) -> BTreeSet<&'static str> {
    found.iter().map(|v| v.check).collect()
}

fn judge(events: &[(u64, StormEvent)], spec: &StormSpec) -> Vec<Violation> {
    let refs: Vec<(u64, &str, &StormEvent)> = events.iter().map(|(t, e)| (*t, "w", e)).collect();
    check(&refs, &[], None, spec)
}

fn spec_with_spout(task: u32, limit: Option<u32>) -> StormSpec {
    let mut s = StormSpec::default();
    s.spouts.insert(task, "s".into());
    if let Some(l) = limit {
        s.max_pending.insert(task, l);
    }
    s
}

fn emit(task: u32, msg: u64, root: u64) -> StormEvent {
    StormEvent::SpoutEmitted {
        task,
        msg: Some(msg),
        root: Some(root),
    }
}

fn acked(task: u32, msg: u64, root: u64) -> StormEvent {
    StormEvent::SpoutAcked {
        task,
        msg,
        root: Some(root),
    }
}

fn sent(to: u32, uid: u64, root: u64) -> StormEvent {
    StormEvent::Sent {
        from: 1,
        to,
        uid,
        stream: Arc::from("default"),
        roots: vec![root],
    }
}

fn timed(events: Vec<StormEvent>) -> Vec<(u64, StormEvent)> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| (i as u64, e))
        .collect()
}

#[test]
fn at_least_once_names_messages_never_acked() {
    let spec = spec_with_spout(1, None);
    let h = timed(vec![emit(1, 7, 70), emit(1, 8, 80), acked(1, 7, 70)]);
    let found = judge(&h, &spec);
    assert_eq!(names(&found), BTreeSet::from(["storm.at_least_once"]));
    assert!(found[0].detail.contains("[8]"), "{}", found[0].detail);
    // The source's own list counts even what was never emitted.
    let mut spec = spec;
    spec.inputs.insert("s".into(), BTreeSet::from([6, 7]));
    let found = judge(&h, &spec);
    assert!(found[0].detail.contains("[6]"), "{}", found[0].detail);
}

#[test]
fn tree_complete_catches_a_root_acked_before_its_tuples() {
    let spec = spec_with_spout(1, None);
    let early = timed(vec![
        emit(1, 7, 70),
        sent(2, 500, 70),
        acked(1, 7, 70),
        StormEvent::BoltAcked {
            task: 2,
            uid: 500,
            roots: vec![70],
        },
    ]);
    assert_eq!(
        names(&judge(&early, &spec)),
        BTreeSet::from(["storm.tree_complete"])
    );
    let fine = timed(vec![
        emit(1, 7, 70),
        sent(2, 500, 70),
        StormEvent::BoltAcked {
            task: 2,
            uid: 500,
            roots: vec![70],
        },
        acked(1, 7, 70),
    ]);
    assert!(judge(&fine, &spec).is_empty());
}

#[test]
fn single_callback_catches_two_callbacks_and_callbacks_from_a_past_life() {
    let spec = spec_with_spout(1, None);
    let twice = timed(vec![
        emit(1, 7, 70),
        StormEvent::SpoutFailed {
            task: 1,
            msg: 7,
            root: 70,
            timed_out: true,
        },
        acked(1, 7, 70),
    ]);
    let found = judge(&twice, &spec);
    assert_eq!(names(&found), BTreeSet::from(["storm.single_callback"]));
    assert!(
        found[0].detail.contains("ack at 2 ms after a fail"),
        "{}",
        found[0].detail
    );
    let past = timed(vec![
        emit(1, 7, 70),
        StormEvent::Started { task: 1 },
        acked(1, 7, 70),
    ]);
    let found = judge(&past, &spec);
    assert!(
        found
            .iter()
            .any(|v| v.detail.contains("did not emit in this life")),
        "{found:?}"
    );
}

#[test]
fn max_pending_counts_per_life() {
    let spec = spec_with_spout(1, Some(2));
    let over = timed(vec![emit(1, 1, 10), emit(1, 2, 20), emit(1, 3, 30)]);
    assert!(names(&judge(&over, &spec)).contains("storm.max_pending"));
    let restarted = timed(vec![
        emit(1, 1, 10),
        emit(1, 2, 20),
        StormEvent::Started { task: 1 },
        emit(1, 3, 30),
        acked(1, 3, 30),
    ]);
    assert!(!names(&judge(&restarted, &spec)).contains("storm.max_pending"));
}

#[test]
fn word_count_tells_exact_from_at_least() {
    let add = |key: &str, delta| StormEvent::StoreAdd {
        task: 3,
        key: key.into(),
        delta,
    };
    let h = timed(vec![add("a", 1), add("a", 1), add("b", 1)]);
    let expected = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 1)]);
    let mut spec = StormSpec {
        counts: Some((expected.clone(), false)),
        ..Default::default()
    };
    assert!(
        judge(&h, &spec).is_empty(),
        "over-counting is at-least-once"
    );
    spec.counts = Some((expected, true));
    let found = judge(&h, &spec);
    assert!(
        found[0].detail.contains("\"a\": 2, expected 1"),
        "{found:?}"
    );
    let under = timed(vec![add("a", 1), add("z", 1)]);
    let expected = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 1)]);
    spec.counts = Some((expected, false));
    let found = judge(&under, &spec);
    assert!(
        found[0].detail.contains("\"b\": 0, expected 1"),
        "{found:?}"
    );
    assert!(
        found[0].detail.contains("\"z\": 1, not in the input"),
        "{found:?}"
    );
}

// --- The real engine, healthy and with a bug switched on ---

/// Run `t` in a local cluster, restarting worker `restart_at.1` at
/// `restart_at.0`, with `bug` switched on (on this thread).
fn run(
    t: &Topology,
    until: Duration,
    restart_at: Option<(Duration, usize)>,
    bug: Option<&str>,
) -> Vec<(u64, StormEvent)> {
    let bugs: Vec<String> = bug.iter().map(|b| b.to_string()).collect();
    zkstorm::bugs::enable(&bugs).expect("known bug");
    let mut c = LocalCluster::start(t, 11).expect("starts");
    if let Some((at, w)) = restart_at {
        c.run_until(at);
        c.restart(w);
    }
    c.run_until(until);
    zkstorm::bugs::enable(&[]).expect("off");
    c.events()
        .iter()
        .map(|(t, e)| (t.as_millis() as u64, e.clone()))
        .collect()
}

fn word_count(n: usize) -> (Topology, StormSpec) {
    let log = sentences(n, 9);
    let cfg = TopologyConfig {
        workers: 3,
        message_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    let t = WordCount::default()
        .build(Arc::new(log.clone()), cfg)
        .expect("valid");
    let mut spec = StormSpec::of(&t);
    spec.inputs
        .insert("sentences".into(), (0..n as u64).collect());
    spec.counts = Some((expected_counts(&log), false));
    (t, spec)
}

#[test]
fn a_healthy_engine_passes_every_check_through_a_worker_restart() {
    let (t, spec) = word_count(300);
    let h = run(
        &t,
        Duration::from_secs(30),
        Some((Duration::from_millis(3), 2)),
        None,
    );
    assert!(
        h.iter()
            .any(|(_, e)| matches!(e, StormEvent::SpoutFailed { .. })),
        "the restart cost some trees"
    );
    let found = judge(&h, &spec);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn tree_complete_catches_an_engine_that_forgets_child_edges() {
    let (t, spec) = word_count(50);
    let found = judge(
        &run(
            &t,
            Duration::from_secs(5),
            None,
            Some("storm-edge-not-xored"),
        ),
        &spec,
    );
    assert!(names(&found).contains("storm.tree_complete"), "{found:?}");
}

/// Acks every input after `cost` (set on the declarer).
#[derive(Clone)]
struct Sink;
impl Bolt for Sink {
    fn declare_outputs(&self, _: &mut OutputDeclarer) {}
    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        out.ack(input);
        Ok(())
    }
}

fn slow_pipeline(
    n: usize,
    max_pending: Option<u32>,
    cost: Duration,
    timeout: Duration,
) -> (Topology, StormSpec) {
    let log = Arc::new(sentences(n, 4));
    let mut b = TopologyBuilder::new();
    let s = b.set_spout("s", SentenceSpout::new(log, true), 1);
    if let Some(m) = max_pending {
        s.max_spout_pending(m);
    }
    b.set_bolt("sink", Sink, 1).shuffle_grouping("s").cost(cost);
    let cfg = TopologyConfig {
        message_timeout: timeout,
        ..Default::default()
    };
    let t = b.build("t", cfg).expect("valid");
    let mut spec = StormSpec::of(&t);
    spec.inputs.insert("s".into(), (0..n as u64).collect());
    (t, spec)
}

#[test]
fn max_pending_catches_an_engine_that_ignores_the_limit() {
    let (t, spec) = slow_pipeline(
        50,
        Some(4),
        Duration::from_millis(2),
        Duration::from_secs(30),
    );
    assert!(judge(&run(&t, Duration::from_secs(2), None, None), &spec).is_empty());
    let found = judge(
        &run(
            &t,
            Duration::from_secs(2),
            None,
            Some("storm-pending-limit-ignored"),
        ),
        &spec,
    );
    assert_eq!(
        names(&found),
        BTreeSet::from(["storm.max_pending"]),
        "{found:?}"
    );
}

#[test]
fn single_callback_and_at_least_once_catch_broken_timeouts() {
    // Four in flight behind a bolt taking 0.4 s each: some time out.
    let (t, spec) = slow_pipeline(
        6,
        Some(4),
        Duration::from_millis(400),
        Duration::from_secs(1),
    );
    let healthy = judge(&run(&t, Duration::from_secs(60), None, None), &spec);
    assert!(healthy.is_empty(), "{healthy:?}");
    let late = judge(
        &run(
            &t,
            Duration::from_secs(60),
            None,
            Some("storm-late-ack-after-timeout"),
        ),
        &spec,
    );
    assert!(names(&late).contains("storm.single_callback"), "{late:?}");
    let dropped = judge(
        &run(
            &t,
            Duration::from_secs(60),
            None,
            Some("storm-timeout-fail-dropped"),
        ),
        &spec,
    );
    assert!(
        names(&dropped).contains("storm.at_least_once"),
        "{dropped:?}"
    );
}

// --- Nimbus leadership ---

fn nimbus(events: &[(u64, &str, NimbusEvent)]) -> Vec<Violation> {
    let refs: Vec<(u64, &str, &NimbusEvent)> =
        events.iter().map(|(t, id, e)| (*t, *id, e)).collect();
    check(&[], &refs, None, &StormSpec::default())
}

fn leading(latch: u64) -> NimbusEvent {
    NimbusEvent::Leading {
        latch: format!("/storm/leader-lock/latch-{latch:010}"),
    }
}

fn stepped() -> NimbusEvent {
    NimbusEvent::Stepped {
        why: "disconnected".into(),
    }
}

fn wrote(latch: u64, zxid: u64) -> NimbusEvent {
    NimbusEvent::Assigned {
        topology: "t".into(),
        latch: format!("/storm/leader-lock/latch-{latch:010}"),
        zxid,
        error: None,
    }
}

#[test]
fn single_nimbus_catches_overlapping_leaders_and_late_writes() {
    let fine = vec![
        (1, "n1", leading(0)),
        (2, "n1", wrote(0, 10)),
        (3, "n1", stepped()),
        (4, "n2", leading(1)),
        (5, "n2", wrote(1, 20)),
    ];
    assert!(nimbus(&fine).is_empty());
    let overlap = vec![(1, "n1", leading(0)), (4, "n2", leading(1))];
    let found = nimbus(&overlap);
    assert_eq!(names(&found), BTreeSet::from(["storm.single_nimbus"]));
    assert!(
        found[0]
            .detail
            .contains("n2 began to lead at 4 ms while n1"),
        "{found:?}"
    );
    let not_acting = vec![
        (1, "n1", leading(0)),
        (2, "n1", stepped()),
        (3, "n1", wrote(0, 10)),
    ];
    assert!(nimbus(&not_acting)[0].detail.contains("while not acting"));
    // n1's write reaches the ensemble after n2's (by zxid), though n1 had
    // stepped down by its own clock.
    let late = vec![
        (1, "n1", leading(0)),
        (2, "n1", wrote(0, 30)),
        (3, "n1", stepped()),
        (4, "n2", leading(1)),
        (5, "n2", wrote(1, 20)),
    ];
    assert!(
        nimbus(&late)[0]
            .detail
            .contains("a deposed leader's write landed"),
        "{:?}",
        nimbus(&late)
    );
}

#[test]
fn assignment_wants_every_task_on_exactly_one_running_worker() {
    let spec = StormSpec {
        tasks: vec![1, 2, 3],
        ..Default::default()
    };
    let at = |w: &'static str, e: StormEvent| (w, e);
    let h: Vec<(&str, StormEvent)> = vec![
        at("a", StormEvent::Started { task: 1 }),
        at("a", StormEvent::Started { task: 2 }),
        at("b", StormEvent::Started { task: 3 }),
        at(
            "b",
            StormEvent::Stopped {
                why: "killed".into(),
            },
        ),
        at("c", StormEvent::Started { task: 3 }),
    ];
    let run = |h: &[(&str, StormEvent)]| {
        let refs: Vec<(u64, &str, &StormEvent)> = h
            .iter()
            .enumerate()
            .map(|(i, (w, e))| (i as u64, *w, e))
            .collect();
        check(&refs, &[], None, &spec)
    };
    assert!(run(&h).is_empty(), "{:?}", run(&h));
    let mut doubled = h.clone();
    doubled.push(at("d", StormEvent::Started { task: 1 }));
    let found = run(&doubled);
    assert!(
        found[0].detail.contains("task 1 runs on a and d"),
        "{found:?}"
    );
    let mut missing = h.clone();
    missing.push(at(
        "c",
        StormEvent::Stopped {
            why: "session ended".into(),
        },
    ));
    let found = run(&missing);
    assert!(found[0].detail.contains("task 3 runs nowhere"), "{found:?}");
}

fn saved(task: u32, key: &str, value: i64, txid: u64) -> StormEvent {
    StormEvent::Saved {
        task,
        key: key.into(),
        value: format!(r#"{{"value":{value},"txid":{txid}}}"#),
    }
}

/// `storm.exactly_once`: the state a run ends with must be the fault-free
/// run's, and each key's saves must go up in txid.
#[test]
fn exactly_once_catches_a_wrong_end_state_and_saves_out_of_txid_order() {
    let reference: BTreeMap<String, i64> = [("cow".to_string(), 3), ("moon".to_string(), 2)].into();
    let spec = StormSpec {
        exactly_once: Some(reference.clone()),
        ..Default::default()
    };
    let h = timed(vec![
        saved(5, "state/cow", 1, 1),
        saved(6, "state/moon", 2, 1),
        saved(5, "state/cow", 3, 2),
    ]);
    let refs: Vec<(u64, &str, &StormEvent)> = h.iter().map(|(t, e)| (*t, "w", e)).collect();
    let run = |ended: &BTreeMap<String, i64>| check(&refs, &[], Some(Ok(ended)), &spec);
    assert!(run(&reference).is_empty(), "{:?}", run(&reference));
    let mut twice = reference.clone();
    twice.insert("cow".into(), 4);
    let found = run(&twice);
    assert_eq!(names(&found), ["storm.exactly_once"].into());
    assert!(
        found[0]
            .detail
            .contains(r#""cow": Some(4), fault-free Some(3)"#),
        "{found:?}"
    );
    // Unread state: nothing to compare (the evidence rule makes it inconclusive).
    assert!(check(&refs, &[], Some(Err("no quorum")), &spec).is_empty());
    let mut backwards = h.clone();
    backwards.push((9, saved(5, "state/cow", 2, 1)));
    let refs: Vec<(u64, &str, &StormEvent)> = backwards.iter().map(|(t, e)| (*t, "w", e)).collect();
    let found = check(&refs, &[], Some(Ok(&reference)), &spec);
    assert!(found[0].detail.contains("out of order"), "{found:?}");
}
