//! Stream groupings: which of a subscribing bolt's tasks receive each tuple,
//! with Storm's rules. Targets are always the bolt's task ids in ascending
//! order; every choice is deterministic given the router's seed.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// A task of a component; ids are fixed for the topology's life.
pub type TaskId = u32;

/// A tuple field's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Int(i64),
    Str(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

impl Value {
    /// Feed a stable encoding (tag, then content) to an FNV-1a hash: the
    /// same values hash alike on every build and platform.
    fn hash_into(&self, h: &mut u64) {
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                *h = (*h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        match self {
            Value::Int(i) => {
                eat(&[0]);
                eat(&i.to_le_bytes());
            }
            Value::Str(s) => {
                eat(&[1]);
                eat(&(s.len() as u64).to_le_bytes());
                eat(s.as_bytes());
            }
            Value::Bytes(b) => {
                eat(&[2]);
                eat(&(b.len() as u64).to_le_bytes());
                eat(b);
            }
            Value::Bool(b) => eat(&[3, u8::from(*b)]),
        }
    }
}

/// The hash of the selected values, in order (Storm's deepHashCode role).
pub fn key_hash<'a>(values: impl IntoIterator<Item = &'a Value>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    for v in values {
        v.hash_into(&mut h);
    }
    h
}

/// How a subscription spreads a stream over the bolt's tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// Round robin over the tasks, in an order shuffled once.
    Shuffle,
    /// By the hash of these fields: equal values, same task.
    Fields(Vec<String>),
    /// By these fields, to the less loaded of two candidate tasks the key
    /// picks (by this router's own counts).
    PartialKey(Vec<String>),
    /// Every task.
    All,
    /// The lowest task id.
    Global,
    /// A task drawn at random for each tuple.
    None,
    /// The emitter names the task (`emit_direct`).
    Direct,
    /// Shuffle over the tasks in the emitter's own worker, if any; else all.
    LocalOrShuffle,
}

/// One emitting task's router for one subscription.
#[derive(Debug)]
pub struct Router {
    grouping: Grouping,
    targets: Vec<TaskId>,
    /// Positions of the grouping's fields in the stream's declared fields.
    key: Vec<usize>,
    /// Shuffle order (the local tasks for local-or-shuffle, when any).
    order: Vec<TaskId>,
    next: usize,
    /// Tuples sent to each task (partial key).
    sent: BTreeMap<TaskId, u64>,
    rng: StdRng,
}

impl Router {
    /// A router to `targets` for a stream declaring `fields`; `local` are
    /// the tasks in the emitter's worker. Errors name what is wrong: no
    /// target, or a grouping field the stream does not declare.
    pub fn new(
        grouping: Grouping,
        targets: &[TaskId],
        fields: &[String],
        local: &[TaskId],
        seed: u64,
    ) -> Result<Router, String> {
        let mut targets = targets.to_vec();
        targets.sort_unstable();
        targets.dedup();
        if targets.is_empty() {
            return Err("a grouping needs at least one target task".into());
        }
        let key = match &grouping {
            Grouping::Fields(names) | Grouping::PartialKey(names) => {
                if names.is_empty() {
                    return Err("a fields grouping needs at least one field".into());
                }
                names
                    .iter()
                    .map(|n| {
                        fields.iter().position(|f| f == n).ok_or_else(|| {
                            format!("field {n:?} is not declared by the stream (it declares {fields:?})")
                        })
                    })
                    .collect::<Result<Vec<usize>, String>>()?
            }
            _ => Vec::new(),
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let mine: Vec<TaskId> = targets
            .iter()
            .copied()
            .filter(|t| local.contains(t))
            .collect();
        let mut order = match grouping {
            Grouping::LocalOrShuffle if !mine.is_empty() => mine,
            _ => targets.clone(),
        };
        order.shuffle(&mut rng);
        Ok(Router {
            grouping,
            targets,
            key,
            order,
            next: 0,
            sent: BTreeMap::new(),
            rng,
        })
    }

    /// The tasks that get `tuple` (empty for direct grouping: the emitter
    /// names the task, see `direct`).
    pub fn route(&mut self, tuple: &[Value]) -> Result<Vec<TaskId>, String> {
        let n = self.targets.len();
        Ok(match &self.grouping {
            Grouping::All => self.targets.clone(),
            Grouping::Global => vec![self.targets[0]],
            Grouping::Direct => Vec::new(),
            Grouping::None => vec![self.targets[self.rng.gen_range(0..n)]],
            Grouping::Shuffle | Grouping::LocalOrShuffle => {
                let t = self.order[self.next % self.order.len()];
                self.next = self.next.wrapping_add(1);
                vec![t]
            }
            Grouping::Fields(_) => {
                let h = self.hash_of(tuple)?;
                vec![self.targets[(h % n as u64) as usize]]
            }
            Grouping::PartialKey(_) => {
                let h = self.hash_of(tuple)?;
                // Two candidates the key alone decides.
                let mut pick = StdRng::seed_from_u64(h);
                let a = self.targets[pick.gen_range(0..n)];
                let b = self.targets[pick.gen_range(0..n)];
                let load = |t: &TaskId| self.sent.get(t).copied().unwrap_or(0);
                let t = if load(&b) < load(&a) { b } else { a };
                *self.sent.entry(t).or_default() += 1;
                vec![t]
            }
        })
    }

    /// Check an `emit_direct` to `task`: only on a direct subscription, and
    /// only to one of its tasks.
    pub fn direct(&self, task: TaskId) -> Result<TaskId, String> {
        if self.grouping != Grouping::Direct {
            return Err(format!(
                "emit_direct on a stream subscribed with {:?} grouping, not direct",
                self.grouping
            ));
        }
        if !self.targets.contains(&task) {
            return Err(format!(
                "task {task} is not a target (targets {:?})",
                self.targets
            ));
        }
        Ok(task)
    }

    fn hash_of(&self, tuple: &[Value]) -> Result<u64, String> {
        let values = self
            .key
            .iter()
            .map(|&i| {
                tuple
                    .get(i)
                    .ok_or_else(|| format!("tuple of {} values has no field {i}", tuple.len()))
            })
            .collect::<Result<Vec<&Value>, String>>()?;
        Ok(key_hash(values))
    }
}

#[cfg(test)]
mod tests;
