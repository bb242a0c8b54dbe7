//! Test your own topology: a spout and a bolt written here, run on a
//! simulated cluster (a 3-server ensemble, two Nimbus, two supervisor
//! machines) while a worker is killed, judged by the storm checks. A
//! failure prints the seed and the command that replays it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use zkstorm::storm::{
    Bolt, BoltCollector, MsgId, OutputDeclarer, Spout, SpoutCollector, TaskContext, TaskError,
    TopologyBuilder, TopologyConfig, Tuple, Value,
};
use zkstorm_sim::check::{run, CheckOptions, Family, StormSpec, Verdict};
use zkstorm_sim::cluster::{Cluster, ClusterConfig};
use zkstorm_sim::history::History;
use zkstorm_sim::runner::{run_seed, seeds_from_env};
use zkstorm_sim::storm::{StormCluster, StormConfig};

const ORDERS: u64 = 300;

/// Emits order numbers 0..ORDERS, split over its tasks, 30 a second each,
/// and emits a failed one again.
#[derive(Clone, Default)]
struct Orders {
    next: u64,
    stride: u64,
    retry: VecDeque<MsgId>,
}

impl Spout for Orders {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&["order"]);
    }
    fn open(&mut self, ctx: &TaskContext) {
        self.next = ctx.index() as u64;
        self.stride = ctx.component_tasks.len() as u64;
    }
    fn next_tuple(&mut self, out: &mut SpoutCollector) -> Result<(), TaskError> {
        let due = (out.now().as_secs_f64() * 30.0) as u64 * self.stride;
        let order = match self.retry.pop_front() {
            Some(o) => o,
            None if self.next < ORDERS && self.next <= due => {
                self.next += self.stride;
                self.next - self.stride
            }
            None => return Ok(()),
        };
        out.emit_with_id(vec![Value::Int(order as i64)], order)?;
        Ok(())
    }
    fn fail(&mut self, msg: MsgId) {
        self.retry.push_back(msg);
    }
}

/// Books each order once into the store (key: the order number).
#[derive(Clone)]
struct Book;

impl Bolt for Book {
    fn declare_outputs(&self, _: &mut OutputDeclarer) {}
    fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
        let order = input.get_int("order").ok_or("an order without a number")?;
        out.add(&format!("order-{order}"), 1);
        out.ack(input);
        Ok(())
    }
}

#[test]
fn a_topology_of_your_own_survives_a_worker_crash() {
    for seed in seeds_from_env(0..2) {
        let verdicts = run_seed(seed, Duration::from_secs(300), move || async move {
            let history = History::new();
            let cluster = Cluster::start(&ClusterConfig::new(3), history.clone());
            let storm = StormCluster::start(
                &StormConfig::default(),
                cluster.client_addrs(),
                history.clone(),
            );

            let mut b = TopologyBuilder::new();
            b.set_spout("orders", Orders::default(), 2)
                .max_spout_pending(20);
            b.set_bolt("book", Book, 2)
                .fields_grouping("orders", &["order"]);
            let cfg = TopologyConfig {
                workers: 2,
                message_timeout: Duration::from_secs(3),
                zookeeper: cluster.connect_string(),
                ..Default::default()
            };
            let t = b.build("orders", cfg).expect("a valid topology");
            storm
                .submit(t.clone(), Duration::from_secs(30))
                .await
                .expect("submitted");

            tokio::time::sleep(Duration::from_secs(3)).await;
            let victim = storm.running_slots()[0].clone();
            storm.kill_worker(&victim);
            tokio::time::sleep(Duration::from_secs(40)).await;

            // Every order acked in the end, and booked at least once.
            let mut spec = StormSpec::of(&t);
            spec.inputs.insert("orders".into(), (0..ORDERS).collect());
            let expected: BTreeMap<String, i64> =
                (0..ORDERS).map(|o| (format!("order-{o}"), 1)).collect();
            spec.counts = Some((expected, false));
            let opts = CheckOptions {
                storm: spec,
                ..CheckOptions::default()
            };
            run(&history.records(), &opts, |f| f == Family::Storm)
        })
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let bad: Vec<String> = verdicts
            .into_iter()
            .filter(|(_, v)| *v != Verdict::Pass)
            .map(|(n, v)| format!("{n}: {v:?}"))
            .collect();
        assert!(
            bad.is_empty(),
            "seed {seed}: {bad:?}\n  replay: ZKSTORM_SEEDS={seed} cargo test --test user_topology"
        );
    }
}
