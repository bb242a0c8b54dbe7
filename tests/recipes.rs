//! The client recipes (`zkstorm::recipes`) under faults, through
//! `zkstorm_sim::testing`: the client checks judge their calls, and each
//! recipe's own promise is an invariant over the notes its users write.
//! Each invariant is also shown failing on a broken version of its recipe.

use std::collections::BTreeMap;
use std::time::Duration;
use zkstorm::proto::{CreateMode, ErrorCode};
use zkstorm::recipes::{
    by_sequence, Barrier, Counter, DoubleBarrier, LeaderLatch, Lock, Put, Queue,
};
use zkstorm_sim::testing::{notes, one_at_a_time, Client, Record, World, Zk};

/// A leader crash, then a follower cut off from the others.
const FAULTS: &str = r#"
[[fault]]
at = "1s"
crash = "leader"
until = "3s"

[[fault]]
at = "5s"
partition = [["follower"], ["rest"]]
until = "7s"
"#;

fn world() -> World {
    World::new(3)
        .duration(Duration::from_secs(9))
        .faults(FAULTS)
}

/// The notes that say `what`, counted.
fn count(records: &[Record], what: &str) -> usize {
    notes(records).iter().filter(|(_, w)| *w == what).count()
}

fn exactly(records: &[Record], what: &str, n: usize) -> Result<(), String> {
    let got = count(records, what);
    (got == n)
        .then_some(())
        .ok_or(format!("{got} {what:?} notes, {n} expected"))
}

/// Was `check` failed on any of the first seeds?
fn caught(w: &World, check: &str) -> bool {
    (0..4).any(|seed| matches!(w.run(seed).verdict(check), Some(v) if !v.is_pass()))
}

// ---------------------------------------------------------------- lock

/// Three clients take the lock four times each, holding it 50 ms.
/// `broken`: a client that skips the wait for its predecessor.
fn lock_world(broken: bool) -> World {
    let mut w = world()
        .invariant("one_holder", |r| one_at_a_time(r, "acquire", "release"))
        .invariant("every_round", |r| exactly(r, "acquire", 12));
    for _ in 0..3 {
        w = w.client(move |c| async move {
            let lock = Lock::new("/app/lock");
            for _ in 0..4 {
                let held = if broken {
                    let Ok(node) = enqueue_only(&c).await else {
                        break;
                    };
                    zkstorm::recipes::Held { node }
                } else {
                    let Ok(held) = lock.acquire(&c).await else {
                        break;
                    };
                    held
                };
                c.note("acquire");
                tokio::time::sleep(Duration::from_millis(50)).await;
                c.note("release");
                let _ = lock.release(&c, held).await;
            }
            c.close().await;
        });
    }
    w
}

/// A contender's node, and no waiting for the ones before it.
async fn enqueue_only(c: &Client) -> Result<String, ErrorCode> {
    for dir in ["/app", "/app/lock"] {
        let _ = c.create(dir, b"", CreateMode::Persistent).await;
    }
    c.create("/app/lock/x-", b"", CreateMode::EphemeralSequential)
        .await
}

#[test]
fn the_lock_holds_one_client_at_a_time() {
    lock_world(false).check(0..4);
}

#[test]
fn a_lock_that_skips_its_predecessor_is_caught() {
    assert!(caught(&lock_world(true), "user.one_holder"));
}

// ---------------------------------------------------------------- latch

/// Three candidates; each leads for 300 ms once and stands down. A
/// leader whose connection drops stops acting (the recipe's rule).
/// `broken`: a candidate that leads as soon as it has joined.
fn latch_world(broken: bool) -> World {
    let mut w = world()
        .invariant("one_leader", |r| one_at_a_time(r, "lead", "step"))
        .invariant("each_led", |r| exactly(r, "lead", 3));
    for i in 0..3u8 {
        w = w.client(move |c| async move {
            let Ok(latch) = LeaderLatch::join(&c, "/app/election", &[i]).await else {
                return;
            };
            if broken || latch.await_leadership(&c).await.is_ok() {
                c.note("lead");
                tokio::time::sleep(Duration::from_millis(300)).await;
                c.note("step");
            }
            let _ = latch.leave(&c).await;
            c.close().await;
        });
    }
    w
}

#[test]
fn the_latch_elects_one_leader_at_a_time() {
    latch_world(false).check(0..4);
}

#[test]
fn a_latch_that_leads_without_its_turn_is_caught() {
    assert!(caught(&latch_world(true), "user.one_leader"));
}

// ---------------------------------------------------------------- barriers

/// A coordinator holds a barrier up for 2 s; three waiters wait on it.
#[test]
fn no_one_passes_a_barrier_before_it_comes_down() {
    let b = || Barrier::new("/app/gate");
    let mut w = world()
        .invariant("held", |r| {
            let down = notes(r).iter().position(|(_, w)| *w == "down");
            let first = notes(r).iter().position(|(_, w)| *w == "through");
            match (down, first) {
                (Some(d), Some(t)) if t < d => {
                    Err("a waiter passed the barrier while it was up".into())
                }
                _ => exactly(r, "through", 3),
            }
        })
        .client(move |c| async move {
            if b().set(&c).await.is_ok() {
                c.note("up");
                tokio::time::sleep(Duration::from_secs(2)).await;
                c.note("down");
                let _ = b().remove(&c).await;
            }
            c.close().await;
        });
    for _ in 0..3 {
        w = w.client(move |c| async move {
            // Wait for the barrier to go up, then for it to come down.
            while let Ok(None) = c.exists("/app/gate", false).await {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if b().wait(&c).await.is_ok() {
                c.note("through");
            }
            c.close().await;
        });
    }
    w.check(0..4);
}

/// Three participants enter a double barrier at different times, work,
/// and leave: no one is past `enter` before all arrived, nor past `leave`
/// before all are leaving.
fn double_barrier_world(count: usize) -> World {
    let mut w = world()
        .invariant("enter", |r| after_all(r, "arrive", "entered", 3))
        .invariant("leave", |r| after_all(r, "leaving", "left", 3));
    for i in 0..3u64 {
        w = w.client(move |c| async move {
            let b = DoubleBarrier::new("/app/double", count);
            tokio::time::sleep(Duration::from_millis(700 * i)).await;
            c.note("arrive");
            let Ok(me) = b.enter(&c).await else { return };
            c.note("entered");
            tokio::time::sleep(Duration::from_millis(400 * (3 - i))).await;
            c.note("leaving");
            if b.leave(&c, &me).await.is_ok() {
                c.note("left");
            }
            c.close().await;
        });
    }
    w
}

/// Every `then` note comes after `n` `first` notes, and there are `n`.
fn after_all(records: &[Record], first: &str, then: &str, n: usize) -> Result<(), String> {
    let mut seen = 0;
    for (client, what) in notes(records) {
        if what == first {
            seen += 1;
        } else if what == then && seen < n {
            return Err(format!(
                "client {client}: {then:?} after {seen} of {n} {first:?}"
            ));
        }
    }
    exactly(records, then, n)
}

#[test]
fn a_double_barrier_holds_everyone_until_all_arrive_and_all_leave() {
    double_barrier_world(3).check(0..4);
}

#[test]
fn a_double_barrier_counting_too_few_is_caught() {
    assert!(caught(&double_barrier_world(2), "user.enter"));
}

// ---------------------------------------------------------------- queue

/// Two producers put 10 items each; two consumers take 10 each. Every item
/// put is taken exactly once. `broken`: consumers take by reading the
/// head and deleting it, ignoring a lost answer.
fn queue_world(broken: bool) -> World {
    let mut w = world().invariant("once", queue_once);
    for p in 0..2 {
        w = w.client(move |c| async move {
            let q = Queue::new("/app/queue");
            for i in 0..10 {
                let item = format!("{p}-{i}");
                match q.put(&c, item.as_bytes()).await {
                    Ok(Put::Once) => c.note(format!("put {item}")),
                    Ok(Put::MaybeTwice) => c.note(format!("put twice? {item}")),
                    Err(_) => {
                        // The session ended mid-put: the item may be there.
                        c.note(format!("put lost {item}"));
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            c.close().await;
        });
    }
    for _ in 0..2 {
        w = w.client(move |c| async move {
            // Until the queue has stayed empty for 3 s.
            let q = Queue::new("/app/queue");
            let mut idle = 0;
            while idle < 30 {
                let took = if broken {
                    take_naively(&c).await
                } else {
                    q.try_take(&c).await
                };
                match took {
                    Ok(Some(item)) => {
                        idle = 0;
                        c.note(format!("took {}", String::from_utf8_lossy(&item)));
                    }
                    Ok(None) => {
                        idle += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(_) => {
                        // The session ended mid-take: an item may be gone with it.
                        c.note("take lost");
                        break;
                    }
                }
            }
            c.close().await;
        });
    }
    // What a consumer whose session ended left behind.
    w.finally(|c| async move {
        let q = Queue::new("/app/queue");
        while let Ok(kids) = c.get_children("/app/queue", false).await {
            if !kids.iter().any(|k| k.starts_with("item-")) {
                break;
            }
            let Ok(item) = q.take(&c).await else { break };
            c.note(format!("took {}", String::from_utf8_lossy(&item)));
        }
        c.close().await;
    })
}

/// Every `put` taken exactly once (twice at most if the put says it may
/// have landed twice), nothing taken that was not put; a take that ended
/// with its session may have lost one item.
fn queue_once(records: &[Record]) -> Result<(), String> {
    let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut put, mut twice) = (Vec::new(), Vec::new());
    for (_, what) in notes(records) {
        if let Some(item) = what.strip_prefix("took ") {
            *taken.entry(item).or_default() += 1;
        } else if what.starts_with("put lost ") {
            // Maybe put (below).
        } else if let Some(item) = what.strip_prefix("put twice? ") {
            put.push(item);
            twice.push(item);
        } else if let Some(item) = what.strip_prefix("put ") {
            put.push(item);
        }
    }
    let most = |i: &str| if twice.contains(&i) { 2 } else { 1 };
    if let Some((item, n)) = taken.iter().find(|(i, n)| **n > most(i)) {
        return Err(format!("item {item} taken {n} times"));
    }
    let maybe_put = |i: &&str| {
        notes(records)
            .iter()
            .any(|(_, w)| w.strip_prefix("put lost ") == Some(*i))
    };
    if let Some(item) = taken.keys().find(|i| !put.contains(i) && !maybe_put(i)) {
        return Err(format!("item {item} taken, never put"));
    }
    let missing: Vec<&&str> = put.iter().filter(|i| !taken.contains_key(*i)).collect();
    let lost = count(records, "take lost");
    match missing.len() <= lost {
        true => Ok(()),
        false => Err(format!(
            "{} put; items {missing:?} never taken, {lost} take(s) ended with their session",
            put.len()
        )),
    }
}

/// The head's data, then its delete, retried after a lost answer; a
/// `NoNode` is taken for our own earlier delete (true after a lost answer,
/// false when another consumer deleted it first). `None`: empty.
async fn take_naively(c: &Client) -> Result<Option<Vec<u8>>, ErrorCode> {
    loop {
        let kids = by_sequence(c.get_children("/app/queue", false).await?);
        let Some(head) = kids.iter().find(|k| k.starts_with("item-")) else {
            return Ok(None);
        };
        let path = format!("/app/queue/{head}");
        let Ok((data, _)) = c.get_data(&path, false).await else {
            continue;
        };
        loop {
            match c.delete(&path, -1).await {
                Ok(()) | Err(ErrorCode::NoNode) => return Ok(Some(data)),
                Err(ErrorCode::ConnectionLoss) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[test]
fn the_queue_hands_out_each_item_once() {
    queue_world(false)
        .invariant("all_put", |r| {
            let put = notes(r)
                .iter()
                .filter(|(_, w)| w.starts_with("put ") && !w.starts_with("put lost "))
                .count();
            (put == 20).then_some(()).ok_or(format!("{put} of 20 puts"))
        })
        .check(0..4);
}

#[test]
fn a_queue_that_takes_without_claiming_is_caught() {
    // Two consumers read the same head; both count its delete as theirs.
    assert!(caught(&queue_world(true), "user.once"));
}

// ---------------------------------------------------------------- counter

/// Three clients add 1 ten times each; a last client reads the total.
/// The total counts every add that returned a value, and some of those
/// whose outcome is unknown; no two adds return the same value.
/// `broken`: an add that writes without the version it read.
fn counter_world(broken: bool) -> World {
    let mut w = world()
        .invariant("total", counter_total)
        .finally(|c| async move {
            if let Ok(v) = Counter::new("/app/count").get(&c).await {
                c.note(format!("total {v}"));
            }
            c.close().await;
        });
    for _ in 0..3 {
        w = w.client(move |c| async move {
            let counter = Counter::new("/app/count");
            for _ in 0..10 {
                let added = if broken {
                    blind_add(&c).await
                } else {
                    counter.add(&c, 1).await
                };
                match added {
                    Ok(v) => c.note(format!("added {v}")),
                    Err(ErrorCode::ConnectionLoss) => c.note("unknown"),
                    Err(ErrorCode::SessionExpired) => {
                        c.note("unknown");
                        break;
                    }
                    Err(_) => break,
                }
            }
            c.close().await;
        });
    }
    w
}

fn counter_total(records: &[Record]) -> Result<(), String> {
    let notes = notes(records);
    let values: Vec<i64> = notes
        .iter()
        .filter_map(|(_, w)| w.strip_prefix("added ")?.parse().ok())
        .collect();
    let unknown = count(records, "unknown") as i64;
    let mut seen = std::collections::BTreeSet::new();
    if let Some(v) = values.iter().find(|v| !seen.insert(**v)) {
        return Err(format!("two adds returned {v}"));
    }
    let total: i64 = notes
        .iter()
        .find_map(|(_, w)| w.strip_prefix("total ")?.parse().ok())
        .ok_or("no total read at the end")?;
    let known = values.len() as i64;
    match total >= known && total <= known + unknown {
        true => Ok(()),
        false => Err(format!(
            "total {total} after {known} adds (and {unknown} unknown)"
        )),
    }
}

/// Read, then write the value plus one whatever the version is now.
async fn blind_add(c: &Client) -> Result<i64, ErrorCode> {
    let value = match c.get_data("/app/count", false).await {
        Ok((data, _)) => String::from_utf8_lossy(&data).parse().unwrap_or(0),
        Err(ErrorCode::NoNode) => {
            let _ = c.create("/app", b"", CreateMode::Persistent).await;
            let _ = c.create("/app/count", b"0", CreateMode::Persistent).await;
            0
        }
        Err(e) => return Err(e),
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    c.set_data("/app/count", (value + 1).to_string().as_bytes(), -1)
        .await
        .map(|_| value + 1)
}

#[test]
fn the_counter_loses_no_add() {
    counter_world(false).check(0..4);
}

#[test]
fn a_counter_that_ignores_versions_is_caught() {
    assert!(caught(&counter_world(true), "user.total"));
}

// ---------------------------------------------------------------- fuzzing

/// The counter and the queue under fault schedules drawn as `zkstorm
/// fuzz` draws them.
#[test]
fn the_counter_and_the_queue_survive_fuzzed_schedules() {
    counter_world(false).fuzz(0..20);
    queue_world(false).fuzz(0..20);
}

/// `fuzz` finds the broken counter, shrinks the schedule, writes it, and
/// the file replays the failure.
#[test]
fn fuzz_shrinks_a_failure_to_a_file_that_replays_it() {
    let w = counter_world(true);
    let fuzzed = std::panic::AssertUnwindSafe(|| w.fuzz(0..20));
    let panic = std::panic::catch_unwind(fuzzed).expect_err("the broken counter passed");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("fails user.total"), "{msg}");
    let file = msg
        .split_whitespace()
        .find(|w| w.starts_with("target/zkstorm-failures/") && w.ends_with(".toml"))
        .unwrap_or_else(|| panic!("no file in: {msg}"));
    let seed: u64 = msg
        .strip_prefix("seed ")
        .and_then(|m| m.split_whitespace().next()?.parse().ok())
        .expect("the seed");
    let r = w.run_file(file, seed);
    assert!(
        matches!(r.verdict("user.total"), Some(v) if v.is_fail()),
        "{file} on seed {seed}: {:?}",
        r.failures()
    );
}
