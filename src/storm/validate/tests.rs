use crate::storm::builtin::{SentenceSpout, SplitBolt};
use crate::storm::grouping::Grouping;
use crate::storm::topology::{TopologyBuilder, TopologyConfig, TopologyError};
use crate::storm::{Bolt, BoltCollector, OutputDeclarer, TaskError, Tuple};
use std::sync::Arc;

/// A bolt that declares a default stream and a direct one.
#[derive(Clone)]
struct Two;
impl Bolt for Two {
    fn declare_outputs(&self, out: &mut OutputDeclarer) {
        out.declare(&["a", "b"]);
        out.declare_direct_stream("d", &["x"]);
    }
    fn execute(&mut self, _: &Tuple, _: &mut BoltCollector) -> Result<(), TaskError> {
        Ok(())
    }
}

fn spout() -> SentenceSpout {
    SentenceSpout::new(Arc::new(vec!["a b".into()]), true)
}

fn problems(b: TopologyBuilder) -> Vec<(String, String)> {
    let err: TopologyError = b
        .build("t", TopologyConfig::default())
        .expect_err("invalid");
    err.problems
        .into_iter()
        .map(|p| (p.component, p.message))
        .collect()
}

fn has(ps: &[(String, String)], component: &str, needle: &str) -> bool {
    ps.iter().any(|(c, m)| c == component && m.contains(needle))
}

#[test]
fn a_valid_topology_numbers_tasks_by_component_id_with_ackers() {
    let mut b = TopologyBuilder::new();
    b.set_spout("src", spout(), 2);
    b.set_bolt("b", Two, 3).shuffle_grouping("src");
    let cfg = TopologyConfig {
        workers: 2,
        ..Default::default()
    };
    let t = b.build("t", cfg).expect("valid");
    // "__acker" < "b" < "src" byte-wise; tasks from 1.
    let tasks: Vec<(u32, &str)> = t.tasks().map(|(i, c)| (i, c.id.as_str())).collect();
    assert_eq!(
        tasks,
        vec![
            (1, "__acker"),
            (2, "__acker"),
            (3, "b"),
            (4, "b"),
            (5, "b"),
            (6, "src"),
            (7, "src")
        ]
    );
    assert_eq!(t.acker_tasks(), &[1, 2]);
    let consumers: Vec<&str> = t
        .consumers("src", "default")
        .map(|(c, _)| c.id.as_str())
        .collect();
    assert_eq!(consumers, vec!["b"]);
}

#[test]
fn unknown_sources_streams_and_fields_are_named() {
    let mut b = TopologyBuilder::new();
    b.set_spout("src", spout(), 1);
    b.set_bolt("x", Two, 1)
        .shuffle_grouping("nope")
        .grouping("src", "other", Grouping::Shuffle)
        .fields_grouping("src", &["word"]);
    let ps = problems(b);
    assert!(has(&ps, "x", "unknown component \"nope\""), "{ps:?}");
    assert!(
        has(
            &ps,
            "x",
            "stream \"other\" of \"src\", which declares only [\"default\"]"
        ),
        "{ps:?}"
    );
    assert!(has(&ps, "x", "field \"word\""), "{ps:?}");
    assert_eq!(ps.len(), 3, "{ps:?}");
}

#[test]
fn direct_grouping_must_match_a_direct_stream() {
    let mut b = TopologyBuilder::new();
    b.set_spout("src", spout(), 1);
    b.set_bolt("two", Two, 1).shuffle_grouping("src");
    b.set_bolt("bad1", SplitBolt, 1)
        .direct_grouping("two", "default");
    b.set_bolt("bad2", SplitBolt, 1)
        .grouping("two", "d", Grouping::Shuffle);
    b.set_bolt("good", SplitBolt, 1).direct_grouping("two", "d");
    let ps = problems(b);
    assert!(has(&ps, "bad1", "not declared direct"), "{ps:?}");
    assert!(has(&ps, "bad2", "only direct grouping reads it"), "{ps:?}");
    assert_eq!(ps.len(), 2, "{ps:?}");
}

#[test]
fn ids_parallelism_and_config_are_checked_together() {
    let mut b = TopologyBuilder::new();
    b.set_spout("src", spout(), 0);
    b.set_bolt("src", SplitBolt, 1).shuffle_grouping("src");
    b.set_bolt("__x", SplitBolt, 1).shuffle_grouping("src");
    b.set_bolt("a/b", SplitBolt, 1)
        .shuffle_grouping("src")
        .shuffle_grouping("src");
    let cfg = TopologyConfig {
        workers: 0,
        message_timeout: std::time::Duration::ZERO,
        zookeeper: "zk1:2181,zk2".into(),
        ..Default::default()
    };
    let err = b.build("my topo", cfg).expect_err("invalid");
    let text = err.to_string();
    for needle in [
        "component \"src\": parallelism must be at least 1",
        "component \"src\": the id is used by another component",
        "component \"__x\": the component id \"__x\" starts with \"__\"",
        "component \"a/b\": the component id \"a/b\" has '/'",
        "component \"a/b\": subscribes to stream \"default\" of \"src\" twice",
        "the topology name \"my topo\" has ' '",
        "workers must be at least 1",
        "message_timeout must be positive",
        "zookeeper \"zk1:2181,zk2\": \"zk2\" is not host:port",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn a_topology_needs_a_spout_and_well_formed_streams() {
    #[derive(Clone)]
    struct Dup;
    impl Bolt for Dup {
        fn declare_outputs(&self, out: &mut OutputDeclarer) {
            out.declare(&["a", "a"]);
            out.declare(&["b"]);
        }
        fn execute(&mut self, _: &Tuple, _: &mut BoltCollector) -> Result<(), TaskError> {
            Ok(())
        }
    }
    let mut b = TopologyBuilder::new();
    b.set_bolt("dup", Dup, 1);
    let ps = problems(b);
    assert!(has(&ps, "", "at least one spout"), "{ps:?}");
    assert!(has(&ps, "dup", "declares field \"a\" twice"), "{ps:?}");
    assert!(
        has(&ps, "dup", "stream \"default\" is declared twice"),
        "{ps:?}"
    );
}

#[test]
fn connect_strings_take_hosts_ports_and_a_chroot() {
    use crate::storm::check_connect_string as c;
    assert!(c("zk1:2181").is_ok());
    assert!(c("10.0.0.1:2181,10.0.0.2:2181/storm").is_ok());
    assert!(c("").is_err());
    assert!(c("zk1:0").is_err());
    assert!(c(":2181").is_err());
    assert!(c("zk1:2181/storm/").is_err());
}
