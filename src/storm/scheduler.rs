//! Where tasks run: Nimbus's even scheduler and its view of which worker
//! slots are alive. Sans-IO: Nimbus feeds in what it read from the
//! ensemble and writes back what comes out.

use super::grouping::TaskId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A worker slot: one port of one supervisor.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Slot {
    pub supervisor: String,
    pub port: u16,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.supervisor, self.port)
    }
}

/// Which slot runs each task: `/storm/assignments/<topology>`.
pub type Placement = BTreeMap<TaskId, Slot>;

/// The slots of a placement, each with its tasks.
pub fn by_slot(p: &Placement) -> BTreeMap<&Slot, Vec<TaskId>> {
    let mut out: BTreeMap<&Slot, Vec<TaskId>> = BTreeMap::new();
    for (t, s) in p {
        out.entry(s).or_default().push(*t);
    }
    out
}

/// Place `tasks` on `workers` slots. Tasks on a slot in `alive` stay; the
/// others go to the least loaded of the kept slots plus free ones (from
/// `free`, spread over supervisors), up to `workers` slots in all. With
/// `rebalance`, every task is placed afresh, round robin.
pub fn schedule(
    tasks: &[TaskId],
    workers: u32,
    current: &Placement,
    alive: &BTreeSet<Slot>,
    free: &BTreeSet<Slot>,
    rebalance: bool,
) -> Placement {
    let mut keep: Vec<Slot> = if rebalance {
        Vec::new()
    } else {
        by_slot(current)
            .into_keys()
            .filter(|s| alive.contains(*s))
            .cloned()
            .collect()
    };
    keep.truncate(workers as usize);
    let mut extra = spread(free.iter().filter(|s| !keep.contains(s))).into_iter();
    while keep.len() < workers as usize {
        match extra.next() {
            Some(s) => keep.push(s),
            None => break,
        }
    }
    keep.sort();
    if keep.is_empty() {
        return Placement::new();
    }
    let mut out = Placement::new();
    let mut load: BTreeMap<&Slot, usize> = keep.iter().map(|s| (s, 0)).collect();
    let mut moving = Vec::new();
    for &t in tasks {
        match current
            .get(&t)
            .filter(|s| !rebalance && load.contains_key(s))
        {
            Some(s) => {
                *load.get_mut(s).expect("kept") += 1;
                out.insert(t, s.clone());
            }
            None => moving.push(t),
        }
    }
    // Ties go to the lowest slot: the map iterates in slot order.
    for t in moving {
        let (s, n) = load.iter_mut().min_by_key(|(_, n)| **n).expect("some slot");
        *n += 1;
        out.insert(t, (*s).clone());
    }
    out
}

/// Free slots in an order that spreads over supervisors: each one's
/// lowest free port first, then each one's next.
fn spread<'a>(free: impl Iterator<Item = &'a Slot>) -> Vec<Slot> {
    let mut per: BTreeMap<&str, Vec<&Slot>> = BTreeMap::new();
    for s in free {
        per.entry(&s.supervisor).or_default().push(s);
    }
    let rounds = per.values().map(|v| v.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..rounds {
        for v in per.values() {
            if let Some(s) = v.get(i) {
                out.push((*s).clone());
            }
        }
    }
    out
}

/// Nimbus's view of worker heartbeats, on its own clock: a slot is alive
/// while its heartbeat keeps changing within `timeout`, and a newly
/// assigned slot gets `launch` to send its first (Storm's
/// nimbus.task.timeout and nimbus.task.launch). Timing the changes, not
/// trusting the timestamps workers write, keeps clock skew out of it.
#[derive(Clone, Debug)]
pub struct Heartbeats {
    pub timeout: Duration,
    pub launch: Duration,
    /// Per slot: the last beat seen and when it changed.
    seen: BTreeMap<Slot, (u64, Duration)>,
    /// Per slot: when it was assigned.
    assigned: BTreeMap<Slot, Duration>,
}

impl Heartbeats {
    pub fn new(timeout: Duration, launch: Duration) -> Heartbeats {
        Heartbeats {
            timeout,
            launch,
            seen: BTreeMap::new(),
            assigned: BTreeMap::new(),
        }
    }

    /// A heartbeat counter read for `slot` at `now`.
    pub fn observe(&mut self, slot: &Slot, beat: u64, now: Duration) {
        match self.seen.get_mut(slot) {
            Some((b, _)) if *b == beat => {}
            _ => {
                self.seen.insert(slot.clone(), (beat, now));
            }
        }
    }

    /// `slot` was (re)assigned at `now`: its worker gets the launch grace.
    pub fn assigned(&mut self, slot: &Slot, now: Duration) {
        self.assigned.insert(slot.clone(), now);
        self.seen.remove(slot);
    }

    pub fn is_alive(&self, slot: &Slot, now: Duration) -> bool {
        if let Some((_, at)) = self.seen.get(slot) {
            return now.saturating_sub(*at) < self.timeout;
        }
        self.assigned
            .get(slot)
            .is_some_and(|at| now.saturating_sub(*at) < self.launch)
    }

    /// Forget slots no longer assigned.
    pub fn retain(&mut self, slots: &BTreeSet<Slot>) {
        self.seen.retain(|s, _| slots.contains(s));
        self.assigned.retain(|s, _| slots.contains(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(sup: &str, port: u16) -> Slot {
        Slot {
            supervisor: sup.into(),
            port,
        }
    }

    fn slots(list: &[(&str, u16)]) -> BTreeSet<Slot> {
        list.iter().map(|(s, p)| slot(s, *p)).collect()
    }

    #[test]
    fn a_fresh_topology_spreads_over_supervisors_round_robin() {
        let free = slots(&[("a", 1), ("a", 2), ("b", 1), ("b", 2)]);
        let p = schedule(
            &[1, 2, 3, 4, 5],
            2,
            &Placement::new(),
            &BTreeSet::new(),
            &free,
            false,
        );
        let used: BTreeSet<&Slot> = p.values().collect();
        assert_eq!(used, [slot("a", 1), slot("b", 1)].iter().collect());
        let loads: Vec<usize> = by_slot(&p).values().map(|v| v.len()).collect();
        assert_eq!(loads, vec![3, 2]);
    }

    #[test]
    fn only_tasks_on_dead_slots_move() {
        let free = slots(&[("a", 1), ("b", 1), ("c", 1)]);
        let first = schedule(
            &[1, 2, 3, 4],
            2,
            &Placement::new(),
            &BTreeSet::new(),
            &free,
            false,
        );
        let dead = first[&1].clone();
        let alive: BTreeSet<Slot> = first.values().filter(|s| **s != dead).cloned().collect();
        let free: BTreeSet<Slot> = free.into_iter().filter(|s| *s != dead).collect();
        let second = schedule(&[1, 2, 3, 4], 2, &first, &alive, &free, false);
        for (t, s) in &first {
            if *s != dead {
                assert_eq!(&second[t], s, "task {t} stays");
            } else {
                assert_ne!(&second[t], s, "task {t} moves");
            }
        }
        assert_eq!(by_slot(&second).len(), 2);
    }

    #[test]
    fn too_few_slots_still_places_everything_and_rebalance_redoes_it() {
        let free = slots(&[("a", 1)]);
        let p = schedule(
            &[1, 2, 3],
            3,
            &Placement::new(),
            &BTreeSet::new(),
            &free,
            false,
        );
        assert_eq!(p.len(), 3);
        assert!(p.values().all(|s| *s == slot("a", 1)));
        assert!(schedule(&[1], 1, &p, &BTreeSet::new(), &BTreeSet::new(), false).is_empty());
        let more = slots(&[("a", 1), ("b", 1), ("c", 1)]);
        let alive = slots(&[("a", 1)]);
        let r = schedule(&[1, 2, 3], 3, &p, &alive, &more, true);
        assert_eq!(by_slot(&r).len(), 3);
    }

    #[test]
    fn heartbeats_time_the_changes_on_nimbus_clock() {
        let ms = Duration::from_millis;
        let mut h = Heartbeats::new(ms(300), ms(1000));
        let s = slot("a", 1);
        assert!(!h.is_alive(&s, ms(0)));
        h.assigned(&s, ms(0));
        assert!(h.is_alive(&s, ms(900)), "launch grace");
        assert!(!h.is_alive(&s, ms(1000)));
        h.observe(&s, 1, ms(1100));
        h.observe(&s, 1, ms(1300));
        assert!(h.is_alive(&s, ms(1399)));
        assert!(!h.is_alive(&s, ms(1400)), "the same beat is not a new one");
        h.observe(&s, 2, ms(1500));
        assert!(h.is_alive(&s, ms(1700)));
    }
}
