//! The orders topology: a reliable fan-out/fan-in DAG over a durable log
//! of orders read by offset, so delivery is checked end to end.
//!
//! orders (log spout) -> parse (shuffle) -+-> audit (fields "id") -+-> join (fields "id"
//!                                        +-> price (shuffle) -----+    on both) -> sink
//!
//! The join holds the first half of each order until the other comes and
//! emits one tuple anchored on both (fan-in: one tree, two paths); the sink
//! counts orders per customer in the store.

use super::SentenceSpout;
use crate::storm::collector::BoltCollector;
use crate::storm::component::{Bolt, OutputDeclarer, TaskError};
use crate::storm::topology::{Topology, TopologyBuilder, TopologyConfig, TopologyError};
use crate::storm::{Tuple, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Customers orders are spread over (the sink's keys).
pub const CUSTOMERS: u64 = 10;

/// `n` orders, `"<id> <amount>"`, ids from 0.
pub fn orders(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|id| format!("{id} {}", rng.gen_range(1..=500)))
        .collect()
}

/// Orders per customer (`c<id mod CUSTOMERS>`), as the sink counts them.
pub fn expected_orders(log: &[String]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for line in log {
        if let Some(id) = line.split(' ').next().and_then(|i| i.parse::<u64>().ok()) {
            *m.entry(customer(id)).or_default() += 1;
        }
    }
    m
}

fn customer(id: u64) -> String {
    format!("c{}", id % CUSTOMERS)
}

/// `"<id> <amount>"` -> (id, amount).
#[derive(Clone)]
struct Parse;

impl Bolt for Parse {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&["id", "amount"]);
    }
    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        let line = input.get_str("order").unwrap_or_default();
        let mut it = line.split(' ').map(|x| x.parse::<i64>());
        let (Some(Ok(id)), Some(Ok(amount))) = (it.next(), it.next()) else {
            return Err(format!("a malformed order: {line:?}").into());
        };
        out.emit(&[input], vec![Value::Int(id), Value::Int(amount)])?;
        out.ack(input);
        Ok(())
    }
}

/// One branch of the fan-out: tags the order with what it found.
#[derive(Clone)]
struct Branch {
    half: &'static str,
}

impl Bolt for Branch {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&["id", "half", "value"]);
    }
    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        let id = input.get_int("id").ok_or("no id")?;
        let amount = input.get_int("amount").ok_or("no amount")?;
        let value = if self.half == "price" {
            amount * 107 / 100
        } else {
            i64::from(amount < 400)
        };
        out.emit(
            &[input],
            vec![Value::Int(id), Value::from(self.half), Value::Int(value)],
        )?;
        out.ack(input);
        Ok(())
    }
}

/// The fan-in: pairs an order's two halves of the same tree and emits one
/// tuple anchored on both. A half whose partner has not come within two
/// ticks (one message timeout each) belongs to a tree that timed out and
/// was replayed: it is failed and dropped.
#[derive(Clone, Default)]
struct Join {
    /// (id, root) -> the half that came first, and the tick it came at.
    waiting: BTreeMap<(i64, u64), (Tuple, u64)>,
    ticks: u64,
}

impl Bolt for Join {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&["id", "total", "audited"]);
    }
    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        if input.is_tick() {
            self.ticks += 1;
            let old: Vec<(i64, u64)> = self
                .waiting
                .iter()
                .filter(|(_, (_, at))| at + 2 <= self.ticks)
                .map(|(k, _)| *k)
                .collect();
            for k in old {
                if let Some((t, _)) = self.waiting.remove(&k) {
                    out.fail(&t);
                }
            }
            return Ok(());
        }
        let id = input.get_int("id").ok_or("no id")?;
        let key = (id, input.roots().next().unwrap_or(0));
        let Some((other, _)) = self.waiting.remove(&key) else {
            self.waiting.insert(key, (input.clone(), self.ticks));
            return Ok(());
        };
        let (price, audit) = match input.get_str("half") {
            Some("price") => (input, &other),
            _ => (&other, input),
        };
        let total = price.get_int("value").unwrap_or(0);
        let audited = audit.get_int("value").unwrap_or(0);
        let values = vec![Value::Int(id), Value::Int(total), Value::Int(audited)];
        out.emit(&[input, &other], values)?;
        out.ack(input);
        out.ack(&other);
        Ok(())
    }
}

/// Counts each order for its customer in the store.
#[derive(Clone)]
struct Sink;

impl Bolt for Sink {
    fn declare_outputs(&self, _out: &mut OutputDeclarer) {}
    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        let id = input.get_int("id").ok_or("no id")?;
        out.add(&customer(id as u64), 1);
        out.ack(input);
        Ok(())
    }
}

/// Sizes for the orders topology.
#[derive(Clone, Debug)]
pub struct Orders {
    /// Orders a second each spout task offers (None: unpaced).
    pub rate: Option<f64>,
    pub spouts: u32,
    /// Tasks of each bolt.
    pub parallelism: u32,
}

impl Orders {
    pub fn build(
        &self,
        log: Arc<Vec<String>>,
        config: TopologyConfig,
    ) -> Result<Topology, TopologyError> {
        let timeout = config.message_timeout;
        let mut spout = SentenceSpout::new(log, true).field("order");
        if let Some(r) = self.rate {
            spout = spout.paced(r);
        }
        let p = self.parallelism;
        let mut b = TopologyBuilder::new();
        b.set_spout("orders", spout, self.spouts);
        b.set_bolt("parse", Parse, p).shuffle_grouping("orders");
        b.set_bolt("audit", Branch { half: "audit" }, p)
            .fields_grouping("parse", &["id"]);
        b.set_bolt("price", Branch { half: "price" }, p)
            .shuffle_grouping("parse");
        b.set_bolt("join", Join::default(), p)
            .fields_grouping("audit", &["id"])
            .fields_grouping("price", &["id"])
            .tick_every(timeout.max(Duration::from_millis(1)));
        b.set_bolt("sink", Sink, p).fields_grouping("join", &["id"]);
        b.build("orders", config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storm::local::LocalCluster;
    use crate::storm::message::StormEvent;

    fn store(c: &LocalCluster) -> BTreeMap<String, i64> {
        let mut m = BTreeMap::new();
        for (_, e) in c.events() {
            if let StormEvent::StoreAdd { key, delta, .. } = e {
                *m.entry(key.clone()).or_default() += delta;
            }
        }
        m
    }

    fn topology(n: usize, rate: Option<f64>) -> (Topology, Vec<String>) {
        let log = orders(n, 9);
        let cfg = TopologyConfig {
            workers: 3,
            message_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let o = Orders {
            rate,
            spouts: 2,
            parallelism: 2,
        };
        (o.build(Arc::new(log.clone()), cfg).expect("valid"), log)
    }

    #[test]
    fn every_order_is_joined_and_counted_once_without_faults() {
        let (t, log) = topology(300, Some(100.0));
        let mut c = LocalCluster::start(&t, 1).expect("starts");
        c.run_until(Duration::from_secs(20));
        assert_eq!(store(&c), expected_orders(&log));
    }

    #[test]
    fn crashes_replay_orders_until_every_one_is_acked_and_counted() {
        // Unpaced: the DAG is full of orders when the workers die.
        let (t, log) = topology(300, None);
        let mut c = LocalCluster::start(&t, 2).expect("starts");
        for i in 0..6u64 {
            c.run_until(Duration::from_micros(500 + 700 * i));
            c.restart((i % 3) as usize);
        }
        c.run_until(Duration::from_secs(40));
        let got = store(&c);
        let want = expected_orders(&log);
        for (k, n) in &want {
            assert!(
                got.get(k).copied().unwrap_or(0) >= *n,
                "{k}: {got:?} vs {want:?}"
            );
        }
        let failed = c
            .events()
            .iter()
            .filter(|(_, e)| matches!(e, StormEvent::SpoutFailed { .. }))
            .count();
        assert!(failed > 0, "the crashes failed no order");
        let acked: std::collections::BTreeSet<u64> = c
            .events()
            .iter()
            .filter_map(|(_, e)| match e {
                StormEvent::SpoutAcked { msg, .. } => Some(*msg),
                _ => None,
            })
            .collect();
        assert_eq!(acked, (0..300).collect(), "every offset acked in the end");
    }
}
