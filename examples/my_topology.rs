//! Test your own topology: a spout and a bolt written here, run on a
//! simulated cluster (a 3-server ensemble, two Nimbus, two supervisor
//! machines) while a worker is killed and the ensemble's leader crashes,
//! judged by the storm checks (and the ensemble's own). A failure prints
//! the seed and the command that replays it.
//!
//! An example that is a test: `cargo test --example my_topology` (plain
//! `cargo test` runs it too). Seeds from `ZKSTORM_SEEDS`.

fn main() {
    eprintln!("this example is a test: cargo test --example my_topology");
}

#[cfg(all(test, madsim))]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;
    use zkstorm::storm::{
        Bolt, BoltCollector, MsgId, OutputDeclarer, Spout, SpoutCollector, TaskContext, TaskError,
        TopologyBuilder, Tuple, Value,
    };
    use zkstorm_sim::testing::World;

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

    /// The topology: orders, fields-grouped by number onto the booking bolt.
    fn orders_world(book: impl Bolt + Clone + Sync + 'static) -> World {
        World::new(3)
            .duration(Duration::from_secs(30))
            .topology(move |cfg| {
                let mut b = TopologyBuilder::new();
                b.set_spout("orders", Orders::default(), 2)
                    .max_spout_pending(20);
                b.set_bolt("book", book.clone(), 2)
                    .fields_grouping("orders", &["order"]);
                b.build("orders", cfg)
            })
            .storm_settings("workers = 2\nmessage_timeout = \"3s\"")
            .faults("[[fault]]\nat = \"3s\"\nkill_worker = \"random\"")
            .faults("[[fault]]\nat = \"6s\"\ncrash = \"leader\"\nuntil = \"9s\"")
            .expect_acked("orders", 0..ORDERS)
            .expect_counts((0..ORDERS).map(|o| (format!("order-{o}"), 1)), false)
    }

    #[test]
    fn a_topology_of_your_own_survives_a_worker_crash() {
        orders_world(Book).check(0..2);
    }

    /// A bolt that books an order but forgets to ack it.
    #[derive(Clone)]
    struct BookNoAck;

    impl Bolt for BookNoAck {
        fn declare_outputs(&self, _: &mut OutputDeclarer) {}
        fn execute(&mut self, input: &Tuple, out: &mut BoltCollector) -> Result<(), TaskError> {
            let order = input.get_int("order").ok_or("an order without a number")?;
            out.add(&format!("order-{order}"), 1);
            Ok(())
        }
    }

    #[test]
    fn a_bolt_that_never_acks_is_caught() {
        let r = orders_world(BookNoAck).run(0);
        let failed: Vec<String> = r.failures();
        assert!(
            failed.iter().any(|f| f.starts_with("storm.")),
            "no storm check failed: {failed:?}"
        );
    }
}
