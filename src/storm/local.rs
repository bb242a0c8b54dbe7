//! Several workers in one process with a fixed latency between them: for
//! tests of the engine, and for the fault-free reference run a checker
//! compares a faulty run against. Deterministic: one seed, one history.

use super::grouping::TaskId;
use super::message::{Envelope, StormEvent};
use super::topology::Topology;
use super::worker::{Durable, Worker};
use std::collections::BTreeMap;
use std::time::Duration;

/// Latency of a message between two workers.
pub const LINK_LATENCY: Duration = Duration::from_micros(200);

pub struct LocalCluster {
    topology: Topology,
    seed: u64,
    workers: Vec<Worker>,
    /// Each worker's tasks (Storm's even scheduler: round robin by task id).
    slots: Vec<Vec<TaskId>>,
    home: BTreeMap<TaskId, usize>,
    /// Messages between workers, by arrival time then send order.
    wire: BTreeMap<(Duration, u64), (usize, Envelope)>,
    wakes: Vec<Option<Duration>>,
    now: Duration,
    seq: u64,
    restarts: u64,
    events: Vec<(Duration, StormEvent)>,
    /// What tasks committed and saved so far (the cluster's durable copy).
    durable: Durable,
}

impl LocalCluster {
    /// Start the topology on `config.workers` workers.
    pub fn start(topology: &Topology, seed: u64) -> Result<LocalCluster, String> {
        let n = topology.config.workers.max(1) as usize;
        let mut slots = vec![Vec::new(); n];
        let mut home = BTreeMap::new();
        for (i, (task, _)) in topology.tasks().enumerate() {
            slots[i % n].push(task);
            home.insert(task, i % n);
        }
        let workers = slots
            .iter()
            .enumerate()
            .map(|(i, tasks)| Worker::new(topology, tasks, seed ^ i as u64, Duration::ZERO))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LocalCluster {
            topology: topology.clone(),
            seed,
            wakes: vec![Some(Duration::ZERO); n],
            workers,
            slots,
            home,
            wire: BTreeMap::new(),
            now: Duration::ZERO,
            seq: 0,
            restarts: 0,
            events: Vec::new(),
            durable: Durable::default(),
        })
    }

    /// The topology's durable storage as it stands (`save`).
    pub fn saved(&self) -> &BTreeMap<String, String> {
        &self.durable.saved
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    /// Everything the engine reported, with the time.
    pub fn events(&self) -> &[(Duration, StormEvent)] {
        &self.events
    }

    /// Run until `until` (simulated).
    pub fn run_until(&mut self, until: Duration) {
        loop {
            let wire = self.wire.keys().next().map(|k| k.0);
            let wake = self.wakes.iter().flatten().min().copied();
            let next = match (wire, wake) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            self.tick();
        }
        self.now = self.now.max(until);
    }

    fn tick(&mut self) {
        let now = self.now;
        let mut due = vec![false; self.workers.len()];
        while let Some(entry) = self.wire.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (w, env) = entry.remove();
            self.workers[w].deliver(env);
            due[w] = true;
        }
        for (w, due) in due.into_iter().enumerate() {
            if due || self.wakes[w].is_some_and(|t| t <= now) {
                self.step(w);
            }
        }
        let congested: Vec<bool> = self.workers.iter().map(|w| w.congested()).collect();
        for (w, worker) in self.workers.iter_mut().enumerate() {
            let others = congested.iter().enumerate().any(|(o, c)| o != w && *c);
            if worker.set_throttled(others) {
                self.wakes[w] = Some(now);
            }
        }
    }

    fn step(&mut self, w: usize) {
        let now = self.now;
        let ready = self.workers[w].step(now);
        self.durable.absorb(&ready.events);
        self.events
            .extend(ready.events.into_iter().map(|e| (now, e)));
        for env in ready.sends {
            let Some(&to) = self.home.get(&env.to) else {
                continue;
            };
            self.seq += 1;
            self.wire.insert((now + LINK_LATENCY, self.seq), (to, env));
        }
        self.wakes[w] = ready.next_wake;
        if ready.died.is_some() {
            self.restart(w);
        }
    }

    /// Kill worker `w` and start it again: its executors' state is lost,
    /// as a crashed worker's is; what was on the wire to it still arrives.
    pub fn restart(&mut self, w: usize) {
        self.restarts += 1;
        let seed = self.seed ^ (self.restarts << 32) ^ w as u64;
        match Worker::resume(
            &self.topology,
            &self.slots[w],
            seed,
            self.now,
            &self.durable,
        ) {
            Ok(worker) => {
                self.workers[w] = worker;
                self.wakes[w] = Some(self.now);
            }
            Err(_) => self.wakes[w] = None,
        }
    }
}

#[cfg(test)]
mod tests;
