//! Unit tests of DataTree semantics, one behaviour per test.

use super::*;
use crate::proto::CreateMode::*;

const S1: SessionId = 0x11;
const S2: SessionId = 0x22;

fn hdr(zxid: u64) -> TxnHeader {
    TxnHeader {
        session: S1,
        zxid: Zxid(zxid),
        time_ms: zxid * 1000,
    }
}

fn hdr_s(zxid: u64, session: SessionId) -> TxnHeader {
    TxnHeader {
        session,
        ..hdr(zxid)
    }
}

fn create(path: &str, data: &[u8], mode: CreateMode) -> WriteOp {
    WriteOp::Create {
        path: path.into(),
        data: Some(data.to_vec()),
        mode,
        acl: None,
    }
}

fn delete(path: &str, version: i32) -> WriteOp {
    WriteOp::Delete {
        path: path.into(),
        version,
    }
}

fn set(path: &str, data: &[u8], version: i32) -> WriteOp {
    WriteOp::SetData {
        path: path.into(),
        data: Some(data.to_vec()),
        version,
    }
}

fn check(path: &str, version: i32) -> WriteOp {
    WriteOp::Check {
        path: path.into(),
        version,
    }
}

fn get_data(path: &str, watch: bool) -> ReadOp {
    ReadOp::GetData {
        path: path.into(),
        watch,
    }
}

fn exists(path: &str, watch: bool) -> ReadOp {
    ReadOp::Exists {
        path: path.into(),
        watch,
    }
}

fn children(path: &str, watch: bool) -> ReadOp {
    ReadOp::GetChildren {
        path: path.into(),
        watch,
    }
}

/// Applies and returns only the result.
fn w(t: &mut DataTree, zxid: u64, op: WriteOp) -> Result<OpResult, ErrorCode> {
    t.apply_write(&hdr(zxid), &op).0
}

fn stat(t: &mut DataTree, path: &str) -> Stat {
    match t.read(&exists(path, false), 0) {
        Ok(OpResult::Exists(Some(s))) => s,
        other => panic!("no stat for {path}: {other:?}"),
    }
}

fn ev(event: EventType, path: &str, zxid: u64) -> WatchedEvent {
    WatchedEvent {
        event,
        path: path.into(),
        zxid: Zxid(zxid),
    }
}

/// As a fresh ZooKeeper 3.8 reads: the root's one child is /zookeeper
/// (cversion -1: no creates, one child), /zookeeper holds config and quota
/// (cversion -2), config is read-only; none of them can be deleted.
#[test]
fn a_new_tree_holds_zookeepers_own_subtree() {
    let mut t = DataTree::new();
    assert_eq!(t.node_count(), 4);
    let root = stat(&mut t, "/");
    assert_eq!(
        (root.cversion, root.num_children, root.pzxid),
        (-1, 1, Zxid(0))
    );
    let kids = |t: &mut DataTree, p: &str| match t.read(&children(p, false), 0) {
        Ok(OpResult::Children { children, .. }) => children,
        other => panic!("{other:?}"),
    };
    assert_eq!(kids(&mut t, "/"), ["zookeeper"]);
    assert_eq!(kids(&mut t, "/zookeeper"), ["config", "quota"]);
    assert_eq!(stat(&mut t, "/zookeeper").cversion, -2);
    assert_eq!(stat(&mut t, "/zookeeper/config").aversion, -1);
    for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(
            w(&mut t, 1, delete(p, -1)),
            Err(ErrorCode::BadArguments),
            "{p}"
        );
    }
    let set_config = w(&mut t, 1, set("/zookeeper/config", b"x", -1));
    assert_eq!(set_config, Err(ErrorCode::NoAuth));
    w(&mut t, 1, create("/zookeeper/x", b"", Persistent)).unwrap();
    let zk = stat(&mut t, "/zookeeper");
    assert_eq!((zk.cversion, zk.num_children), (-1, 3));
    // The subtree takes no sequence number: a first sequential child is 0.
    let first = w(&mut t, 2, create("/s-", b"", PersistentSequential));
    assert!(matches!(first, Ok(OpResult::Created { path, .. }) if path == "/s-0000000000"));
    assert_eq!(DataTree::default(), DataTree::new());
    assert_eq!(DataTree::default().digest(), DataTree::new().digest());
}

#[test]
fn create_sets_stat_and_bumps_parent() {
    let mut t = DataTree::new();
    let r = w(&mut t, 5, create("/a", b"hello", Persistent)).unwrap();
    let expect = Stat {
        czxid: Zxid(5),
        mzxid: Zxid(5),
        pzxid: Zxid(5),
        ctime: 5000,
        mtime: 5000,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 0,
    };
    assert_eq!(
        r,
        OpResult::Created {
            path: "/a".into(),
            stat: expect
        }
    );
    assert_eq!(stat(&mut t, "/a"), expect);
    let root = stat(&mut t, "/");
    assert_eq!(
        (root.cversion, root.pzxid, root.num_children),
        (0, Zxid(5), 2)
    );
    // Parent's own data fields are untouched by a child create.
    assert_eq!(
        (root.version, root.mzxid, root.czxid),
        (0, Zxid(0), Zxid(0))
    );
    assert_eq!(
        t.read(&get_data("/a", false), 0),
        Ok(OpResult::Data {
            data: Some(b"hello".to_vec()),
            stat: expect
        })
    );
    assert_eq!(t.node_count(), 5);
}

#[test]
fn create_errors() {
    let mut t = DataTree::new();
    t.create_session(S1, 1000);
    let big = vec![0u8; MAX_DATA_LEN + 1];
    assert_eq!(
        w(&mut t, 1, create("/a/b", b"", Persistent)),
        Err(ErrorCode::NoNode)
    );
    assert_eq!(
        w(&mut t, 1, create("bad", b"", Persistent)),
        Err(ErrorCode::BadArguments)
    );
    assert_eq!(
        w(&mut t, 1, create("/a", &big, Persistent)),
        Err(ErrorCode::BadArguments)
    );
    // Exactly MAX_DATA_LEN is accepted.
    let max = vec![1u8; MAX_DATA_LEN];
    assert!(w(&mut t, 1, create("/max", &max, Persistent)).is_ok());
    assert!(w(&mut t, 2, create("/a", b"", Persistent)).is_ok());
    assert_eq!(
        w(&mut t, 3, create("/a", b"", Persistent)),
        Err(ErrorCode::NodeExists)
    );
    assert_eq!(
        w(&mut t, 3, create("/", b"", Persistent)),
        Err(ErrorCode::NodeExists)
    );
    assert!(w(&mut t, 4, create("/e", b"", Ephemeral)).is_ok());
    for mode in [
        Persistent,
        Ephemeral,
        PersistentSequential,
        EphemeralSequential,
    ] {
        assert_eq!(
            w(&mut t, 5, create("/e/c", b"", mode)),
            Err(ErrorCode::NoChildrenForEphemerals),
            "{mode:?}"
        );
    }
    // Ephemeral create needs a live session; persistent ones do not.
    for mode in [Ephemeral, EphemeralSequential] {
        let r = t.apply_write(&hdr_s(6, S2), &create("/x", b"", mode)).0;
        assert_eq!(r, Err(ErrorCode::SessionExpired), "{mode:?}");
        let r = t.apply_write(&hdr_s(6, 0), &create("/x", b"", mode)).0;
        assert_eq!(r, Err(ErrorCode::SessionExpired), "{mode:?}");
    }
    assert!(t
        .apply_write(&hdr_s(7, S2), &create("/p", b"", Persistent))
        .0
        .is_ok());
}

#[test]
fn set_data_updates_stat() {
    let mut t = DataTree::new();
    w(&mut t, 1, create("/a", b"x", Persistent)).unwrap();
    let r = w(&mut t, 2, set("/a", b"yyy", 0)).unwrap();
    let s = stat(&mut t, "/a");
    assert_eq!(r, OpResult::SetData { stat: s });
    assert_eq!((s.version, s.mzxid, s.mtime), (1, Zxid(2), 2000));
    assert_eq!(
        (s.czxid, s.ctime, s.pzxid, s.data_length),
        (Zxid(1), 1000, Zxid(1), 3)
    );
    assert_eq!(s.cversion, 0);
    // -1 matches any version.
    w(&mut t, 3, set("/a", b"", -1)).unwrap();
    let s = stat(&mut t, "/a");
    assert_eq!((s.version, s.data_length), (2, 0));
    // setData does not touch the parent.
    assert_eq!(stat(&mut t, "/").pzxid, Zxid(1));
}

#[test]
fn set_data_errors() {
    let mut t = DataTree::new();
    w(&mut t, 1, create("/a", b"x", Persistent)).unwrap();
    assert_eq!(w(&mut t, 2, set("/b", b"", -1)), Err(ErrorCode::NoNode));
    assert_eq!(w(&mut t, 2, set("/a", b"", 1)), Err(ErrorCode::BadVersion));
    assert_eq!(
        w(&mut t, 2, set("/a", b"", i32::MIN)),
        Err(ErrorCode::BadVersion)
    );
    let big = vec![0u8; MAX_DATA_LEN + 1];
    assert_eq!(
        w(&mut t, 2, set("/a", &big, -1)),
        Err(ErrorCode::BadArguments)
    );
    assert_eq!(
        w(&mut t, 2, set("/a/", b"", -1)),
        Err(ErrorCode::BadArguments)
    );
    assert_eq!(stat(&mut t, "/a").version, 0);
}

#[test]
fn delete_and_errors() {
    let mut t = DataTree::new();
    w(&mut t, 1, create("/a", b"", Persistent)).unwrap();
    w(&mut t, 2, create("/a/b", b"", Persistent)).unwrap();
    assert_eq!(w(&mut t, 3, delete("/", -1)), Err(ErrorCode::BadArguments));
    assert_eq!(w(&mut t, 3, delete("", -1)), Err(ErrorCode::BadArguments));
    assert_eq!(w(&mut t, 3, delete("/zz", -1)), Err(ErrorCode::NoNode));
    assert_eq!(w(&mut t, 3, delete("/a", -1)), Err(ErrorCode::NotEmpty));
    assert_eq!(w(&mut t, 3, delete("/a/b", 7)), Err(ErrorCode::BadVersion));
    // BadVersion is checked before NotEmpty.
    assert_eq!(w(&mut t, 3, delete("/a", 7)), Err(ErrorCode::BadVersion));
    assert_eq!(w(&mut t, 4, delete("/a/b", 0)), Ok(OpResult::Deleted));
    let a = stat(&mut t, "/a");
    assert_eq!((a.cversion, a.pzxid, a.num_children), (2, Zxid(4), 0));
    assert_eq!(w(&mut t, 5, delete("/a", -1)), Ok(OpResult::Deleted));
    assert_eq!(t.node_count(), 4, "the root and ZooKeeper's three");
    assert_eq!(t.read(&get_data("/a", false), 0), Err(ErrorCode::NoNode));
    let root = stat(&mut t, "/");
    assert_eq!(
        (root.cversion, root.pzxid, root.num_children),
        (1, Zxid(5), 1)
    );
}

#[test]
fn check_op() {
    let mut t = DataTree::new();
    w(&mut t, 1, create("/a", b"", Persistent)).unwrap();
    assert_eq!(w(&mut t, 2, check("/a", 0)), Ok(OpResult::Checked));
    assert_eq!(w(&mut t, 2, check("/a", -1)), Ok(OpResult::Checked));
    assert_eq!(w(&mut t, 2, check("/a", 1)), Err(ErrorCode::BadVersion));
    assert_eq!(w(&mut t, 2, check("/b", -1)), Err(ErrorCode::NoNode));
    assert_eq!(w(&mut t, 2, check("//", -1)), Err(ErrorCode::BadArguments));
}

#[test]
fn sequential_names_follow_parent_cversion() {
    let mut t = DataTree::new();
    t.create_session(S1, 1000);
    w(&mut t, 1, create("/a", b"", Persistent)).unwrap();
    let name = |r: Result<OpResult, ErrorCode>| match r {
        Ok(OpResult::Created { path, .. }) => path,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        name(w(&mut t, 2, create("/a/", b"", PersistentSequential))),
        "/a/0000000000"
    );
    w(&mut t, 3, create("/a/x", b"", Persistent)).unwrap();
    w(&mut t, 4, delete("/a/x", -1)).unwrap();
    // cversion is now 3 (creates and deletes), but the name counts the
    // creates, as ZooKeeper's does.
    assert_eq!(stat(&mut t, "/a").cversion, 3);
    assert_eq!(
        name(w(&mut t, 5, create("/a/lock-", b"", EphemeralSequential))),
        "/a/lock-0000000002"
    );
    assert_eq!(t.ephemerals(S1), vec!["/a/lock-0000000002".to_string()]);
    assert_eq!(
        name(w(&mut t, 6, create("/", b"", PersistentSequential))),
        "/0000000001"
    );
    // A sequential name that already exists is NodeExists.
    w(&mut t, 7, create("/a/q0000000004", b"", Persistent)).unwrap();
    assert_eq!(stat(&mut t, "/a").cversion, 5, "4 creates and a delete");
    assert_eq!(
        w(&mut t, 8, create("/a/q", b"", PersistentSequential)),
        Err(ErrorCode::NodeExists)
    );
    assert_eq!(
        w(&mut t, 8, create("/nope/", b"", PersistentSequential)),
        Err(ErrorCode::NoNode)
    );
    assert_eq!(
        w(&mut t, 8, create("/a//", b"", PersistentSequential)),
        Err(ErrorCode::BadArguments)
    );
}

#[test]
fn ephemerals_removed_on_close_session() {
    let mut t = DataTree::new();
    t.create_session(S1, 1000);
    t.create_session(S2, 2000);
    w(&mut t, 1, create("/d", b"", Persistent)).unwrap();
    w(&mut t, 2, create("/d/e2", b"", Ephemeral)).unwrap();
    w(&mut t, 3, create("/d/e1", b"", Ephemeral)).unwrap();
    w(&mut t, 4, create("/top", b"", Ephemeral)).unwrap();
    t.apply_write(&hdr_s(5, S2), &create("/d/other", b"", Ephemeral))
        .0
        .unwrap();
    assert_eq!(stat(&mut t, "/d/e1").ephemeral_owner, S1);
    assert_eq!(t.ephemerals(S1), vec!["/d/e1", "/d/e2", "/top"]);
    assert_eq!(t.ephemerals(S2), vec!["/d/other"]);
    assert_eq!(t.sessions().get(&S1), Some(&1000));

    t.read(&get_data("/d/e1", true), 7).unwrap();
    t.read(&children("/d", true), 7).unwrap();
    t.read(&exists("/top", true), 8).unwrap();
    t.read(&exists("/d/other", true), 8).unwrap();

    let events = t.close_session(&hdr(9), S1);
    assert_eq!(
        events,
        vec![
            (7, ev(EventType::NodeDeleted, "/d/e1", 9)),
            (7, ev(EventType::NodeChildrenChanged, "/d", 9)),
            (8, ev(EventType::NodeDeleted, "/top", 9)),
        ]
    );
    assert!(t.ephemerals(S1).is_empty());
    assert!(!t.sessions().contains_key(&S1));
    assert_eq!(
        t.read(&exists("/d/e2", false), 0),
        Ok(OpResult::Exists(None))
    );
    let d = stat(&mut t, "/d");
    // Two deletes under /d: cversion 3 (two creates + other) + 2.
    assert_eq!((d.cversion, d.num_children, d.pzxid), (5, 1, Zxid(9)));
    assert_eq!(t.node_count(), 6);
    // The session is gone, so no new ephemerals for it.
    assert_eq!(
        w(&mut t, 10, create("/again", b"", Ephemeral)),
        Err(ErrorCode::SessionExpired)
    );
    // Unknown session: no-op.
    let before = t.digest();
    assert!(t.close_session(&hdr(11), S1).is_empty());
    assert!(t.close_session(&hdr(11), 999).is_empty());
    assert_eq!(t.digest(), before);
    assert_eq!(t.watch_count(), 1);
}

/// ZooKeeper answers every sub-op of a failed multi, so the tree names the
/// one that failed; nothing of the multi stays applied.
#[test]
fn a_failed_multi_names_the_sub_op_that_failed() {
    let mut t = DataTree::new();
    let ops = WriteOp::Multi(vec![
        create("/a", b"", Persistent),
        check("/a", 0),
        set("/a", b"x", 5),
        delete("/a", -1),
    ]);
    let before = t.digest();
    let w = t.apply_write_at(&hdr(1), &ops, &[]);
    assert_eq!(
        (w.result, w.failed_at),
        (Err(ErrorCode::BadVersion), Some(2))
    );
    assert!(w.events.is_empty());
    assert_eq!(t.digest(), before);
    let ok = t.apply_write_at(
        &hdr(2),
        &WriteOp::Multi(vec![create("/b", b"", Persistent)]),
        &[],
    );
    assert!(ok.result.is_ok() && ok.failed_at.is_none());
}

#[test]
fn multi_applies_in_order() {
    let mut t = DataTree::new();
    let (r, _) = t.apply_write(
        &hdr(1),
        &WriteOp::Multi(vec![
            create("/a", b"1", Persistent),
            create("/a/b", b"", Persistent),
            set("/a", b"2", 0),
            check("/a", 1),
            create("/a/", b"", PersistentSequential),
        ]),
    );
    let OpResult::Multi(results) = r.unwrap() else {
        panic!()
    };
    assert_eq!(results.len(), 5);
    assert!(matches!(&results[4], OpResult::Created { path, .. } if path == "/a/0000000001"));
    assert_eq!(results[3], OpResult::Checked);
    let a = stat(&mut t, "/a");
    assert_eq!((a.version, a.cversion, a.num_children), (1, 2, 2));
    assert_eq!(
        w(&mut t, 2, WriteOp::Multi(vec![])),
        Ok(OpResult::Multi(vec![]))
    );
}

#[test]
fn failed_multi_changes_nothing() {
    let mut t = DataTree::new();
    t.create_session(S1, 1000);
    w(&mut t, 1, create("/a", b"v", Persistent)).unwrap();
    w(&mut t, 2, create("/a/c", b"", Persistent)).unwrap();
    t.read(&get_data("/a", true), 3).unwrap();
    t.read(&children("/a", true), 3).unwrap();
    t.read(&exists("/n", true), 3).unwrap();
    let before = t.clone();
    let digest = t.digest();
    let cases = [
        (
            vec![
                create("/n", b"", Ephemeral),
                set("/a", b"w", -1),
                delete("/a/c", -1),
                create("/a/", b"", PersistentSequential),
                check("/a", 5),
            ],
            ErrorCode::BadVersion,
        ),
        (
            vec![delete("/a/c", -1), delete("/a/c", -1)],
            ErrorCode::NoNode,
        ),
        (
            vec![set("/a", b"", 0), set("/a", b"", 0)],
            ErrorCode::BadVersion,
        ),
        (
            vec![create("/a/d", b"", Persistent), delete("/a", -1)],
            ErrorCode::NotEmpty,
        ),
        (
            vec![check("/a", 0), WriteOp::Multi(vec![])],
            ErrorCode::BadArguments,
        ),
        // The first failure wins.
        (vec![check("/zz", 0), check("/a", 9)], ErrorCode::NoNode),
    ];
    for (ops, code) in cases {
        let (r, events) = t.apply_write(&hdr(4), &WriteOp::Multi(ops.clone()));
        assert_eq!(r, Err(code), "{ops:?}");
        assert!(events.is_empty());
        assert_eq!(t.digest(), digest);
        assert_eq!(t, before);
        assert_eq!(t.ephemerals(S1), Vec::<String>::new());
    }
    // Watches survived the failed multis.
    assert_eq!(t.watch_count(), 3);
    let (_, events) = t.apply_write(&hdr(5), &set("/a", b"", -1));
    assert_eq!(events, vec![(3, ev(EventType::NodeDataChanged, "/a", 5))]);
}

#[test]
fn multi_fires_watches_of_all_sub_ops() {
    let mut t = DataTree::new();
    w(&mut t, 1, create("/a", b"", Persistent)).unwrap();
    t.read(&exists("/b", true), 1).unwrap();
    t.read(&get_data("/a", true), 2).unwrap();
    t.read(&children("/", true), 3).unwrap();
    let (r, events) = t.apply_write(
        &hdr(2),
        &WriteOp::Multi(vec![
            create("/b", b"", Persistent),
            set("/a", b"x", -1),
            set("/a", b"y", -1),
        ]),
    );
    assert!(r.is_ok());
    assert_eq!(
        events,
        vec![
            (1, ev(EventType::NodeCreated, "/b", 2)),
            (2, ev(EventType::NodeDataChanged, "/a", 2)),
            (3, ev(EventType::NodeChildrenChanged, "/", 2)),
        ]
    );
    assert_eq!(t.watch_count(), 0);
}

#[test]
fn watches_are_one_shot() {
    let mut t = DataTree::new();
    w(&mut t, 1, create("/a", b"", Persistent)).unwrap();
    t.read(&get_data("/a", true), 1).unwrap();
    t.read(&get_data("/a", true), 1).unwrap(); // same watch, set twice
    t.read(&get_data("/a", true), 2).unwrap();
    let (_, e) = t.apply_write(&hdr(2), &set("/a", b"1", -1));
    assert_eq!(
        e,
        vec![
            (1, ev(EventType::NodeDataChanged, "/a", 2)),
            (2, ev(EventType::NodeDataChanged, "/a", 2)),
        ]
    );
    let (_, e) = t.apply_write(&hdr(3), &set("/a", b"2", -1));
    assert!(e.is_empty());
    // Failed writes fire nothing and keep the watch.
    t.read(&get_data("/a", true), 1).unwrap();
    let (_, e) = t.apply_write(&hdr(4), &set("/a", b"2", 99));
    assert!(e.is_empty());
    assert_eq!(t.watch_count(), 1);
}

#[test]
fn watch_kinds() {
    let mut t = DataTree::new();
    // exists on a missing node watches for its creation.
    assert_eq!(t.read(&exists("/a", true), 1), Ok(OpResult::Exists(None)));
    // getData/getChildren on a missing node set no watch.
    assert_eq!(t.read(&get_data("/a", true), 2), Err(ErrorCode::NoNode));
    assert_eq!(t.read(&children("/a", true), 2), Err(ErrorCode::NoNode));
    assert_eq!(t.read(&exists("//", true), 2), Err(ErrorCode::BadArguments));
    assert_eq!(t.watch_count(), 1);
    let (_, e) = t.apply_write(&hdr(1), &create("/a", b"", Persistent));
    assert_eq!(e, vec![(1, ev(EventType::NodeCreated, "/a", 1))]);

    t.read(&children("/a", true), 1).unwrap();
    t.read(&get_data("/a", true), 1).unwrap();
    t.read(&children("/a", true), 2).unwrap();
    // A child create fires only child watches, not the data watch.
    let (_, e) = t.apply_write(&hdr(2), &create("/a/b", b"", Persistent));
    assert_eq!(
        e,
        vec![
            (1, ev(EventType::NodeChildrenChanged, "/a", 2)),
            (2, ev(EventType::NodeChildrenChanged, "/a", 2)),
        ]
    );
    // A child data change fires nothing on the parent.
    t.read(&children("/a", true), 1).unwrap();
    let (_, e) = t.apply_write(&hdr(3), &set("/a/b", b"", -1));
    assert!(e.is_empty());
    w(&mut t, 4, delete("/a/b", -1)).unwrap();
    // Data + child watch on a deleted node: NodeDeleted once.
    t.read(&children("/a", true), 1).unwrap();
    t.read(&exists("/a", true), 3).unwrap();
    let (_, e) = t.apply_write(&hdr(5), &delete("/a", -1));
    assert_eq!(
        e,
        vec![
            (1, ev(EventType::NodeDeleted, "/a", 5)),
            (3, ev(EventType::NodeDeleted, "/a", 5)),
        ]
    );
    assert_eq!(t.watch_count(), 0);
}

#[test]
fn remove_watcher_drops_all_its_watches() {
    let mut t = DataTree::new();
    w(&mut t, 1, create("/a", b"", Persistent)).unwrap();
    t.read(&get_data("/a", true), 1).unwrap();
    t.read(&children("/", true), 1).unwrap();
    t.read(&exists("/zz", true), 1).unwrap();
    t.read(&exists("/a", true), 2).unwrap();
    assert_eq!(t.watch_count(), 4);
    t.remove_watcher(1);
    t.remove_watcher(77);
    assert_eq!(t.watch_count(), 1);
    let (_, e) = t.apply_write(&hdr(2), &delete("/a", -1));
    assert_eq!(e, vec![(2, ev(EventType::NodeDeleted, "/a", 2))]);
}

#[test]
fn children_are_sorted() {
    let mut t = DataTree::new();
    for (i, name) in ["/c", "/a", "/b", "/a0", "/B"].iter().enumerate() {
        w(&mut t, i as u64 + 1, create(name, b"", Persistent)).unwrap();
    }
    let Ok(OpResult::Children { children, stat }) = t.read(&children("/", false), 0) else {
        panic!()
    };
    assert_eq!(children, vec!["B", "a", "a0", "b", "c", "zookeeper"]);
    assert_eq!(stat.num_children, 6);
}

#[test]
fn validate_write_checks() {
    let big = vec![0u8; MAX_DATA_LEN + 1];
    let ok = [
        create("/a", b"", Persistent),
        create("/a/", b"", PersistentSequential),
        create("/a/", b"", EphemeralSequential),
        delete("/a", 3),
        set("/a", &vec![0; MAX_DATA_LEN], -1),
        check("/", -1),
        WriteOp::Multi(vec![]),
        WriteOp::Multi(vec![create("/a", b"", Persistent), check("/a", 0)]),
    ];
    for op in ok {
        assert_eq!(DataTree::validate_write(&op), Ok(()), "{op:?}");
    }
    let bad = [
        create("/a/", b"", Persistent),
        create("/a/", b"", Ephemeral),
        create("/a", &big, Persistent),
        create("", b"", Persistent),
        delete("/", -1),
        delete("/a/../b", -1),
        set("/a", &big, -1),
        set("/a\0", b"", -1),
        check("a", -1),
        WriteOp::Multi(vec![WriteOp::Multi(vec![])]),
        WriteOp::Multi(vec![check("/", -1), set("/a", &big, -1)]),
        WriteOp::Multi(vec![create("//x", b"", Persistent)]),
    ];
    for op in bad {
        assert_eq!(
            DataTree::validate_write(&op),
            Err(ErrorCode::BadArguments),
            "{:?}",
            std::mem::discriminant(&op)
        );
    }
}

#[test]
fn path_validation_table() {
    let valid = ["/", "/a", "/a/b", "/zookeeper/quota", "/with space", "/ünï"];
    let invalid = [
        "", "a", "/a/", "//", "/a//b", "/.", "/..", "/a/.", "/a/../b", "/a\0b", "/\t", "/\u{9f}",
    ];
    for p in valid {
        assert_eq!(DataTree::validate_path(p, false), Ok(()), "{p:?}");
        assert_eq!(DataTree::validate_path(p, true), Ok(()), "{p:?}");
    }
    for p in invalid {
        assert_eq!(
            DataTree::validate_path(p, false),
            Err(ErrorCode::BadArguments),
            "{p:?}"
        );
    }
    for p in ["/a/", "/", "/a/.", "/a/..", "/x-"] {
        assert_eq!(DataTree::validate_path(p, true), Ok(()), "{p:?}");
    }
    for p in ["", "a/", "//", "/a//", "/../x", "/a\0/"] {
        assert_eq!(
            DataTree::validate_path(p, true),
            Err(ErrorCode::BadArguments),
            "{p:?}"
        );
    }
}

#[test]
fn bad_input_never_panics() {
    let mut t = DataTree::new();
    t.create_session(1, 1);
    let paths = [
        "",
        "/",
        "\0",
        "/\u{0}",
        "//",
        "/a",
        "/a/",
        "a",
        "/\u{10ffff}",
        "/é/",
    ];
    let versions = [i32::MIN, -2, -1, 0, 1, i32::MAX];
    let mut z = 1;
    for p in paths {
        for v in versions {
            for mode in [
                Persistent,
                Ephemeral,
                PersistentSequential,
                EphemeralSequential,
            ] {
                z += 1;
                let _ = t.apply_write(&hdr_s(z, 1), &create(p, b"d", mode));
            }
            for op in [delete(p, v), set(p, b"x", v), check(p, v)] {
                z += 1;
                let _ = t.apply_write(&hdr(z), &op);
                let _ = DataTree::validate_write(&op);
            }
            for r in [get_data(p, true), exists(p, true), children(p, true)] {
                let _ = t.read(&r, 1);
            }
        }
    }
    // Versions wrap instead of overflowing.
    w(&mut t, 1000, create("/v", b"", Persistent)).unwrap();
    for i in 0..3 {
        w(&mut t, 1001 + i, set("/v", b"", -1)).unwrap();
    }
    assert_eq!(stat(&mut t, "/v").version, 3);
}

#[test]
fn digest_tracks_replicated_content_only() {
    let build = || {
        let mut t = DataTree::new();
        t.create_session(S1, 500);
        w(&mut t, 1, create("/a", b"x", Persistent)).unwrap();
        w(&mut t, 2, create("/a/e", b"", Ephemeral)).unwrap();
        t
    };
    let mut a = build();
    let b = build();
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a, b);
    let d = a.digest();
    a.read(&get_data("/a", true), 1).unwrap();
    assert_eq!(a.digest(), d, "watches are not in the digest");
    assert_eq!(a, b);
    a.create_session(S2, 1);
    assert_ne!(a.digest(), d);
    a.create_session(S2, 2);
    let d2 = a.digest();
    a.create_session(S2, 1);
    a.create_session(S2, 2);
    assert_eq!(a.digest(), d2);
    w(&mut a, 3, set("/a", b"y", -1)).unwrap();
    assert_ne!(a.digest(), d2);
    assert_ne!(a, b);
    // Same nodes but a different Stat: different digest.
    let mut c = DataTree::new();
    let mut e = DataTree::new();
    w(&mut c, 1, create("/a", b"", Persistent)).unwrap();
    w(&mut e, 2, create("/a", b"", Persistent)).unwrap();
    assert_ne!(c.digest(), e.digest());
}

/// ZooKeeper keeps a null buffer apart from an empty one: getData answers
/// what was written, dataLength is 0 for both, and a snapshot keeps it.
#[test]
fn null_data_is_kept_apart_from_empty_data() {
    let mut t = DataTree::new();
    let null = |path: &str| WriteOp::Create {
        path: path.into(),
        data: None,
        mode: Persistent,
        acl: None,
    };
    w(&mut t, 1, null("/n")).unwrap();
    w(&mut t, 2, create("/e", b"", Persistent)).unwrap();
    let data = |t: &mut DataTree, p: &str| match t.read(&get_data(p, false), 1).unwrap() {
        OpResult::Data { data, stat } => (data, stat.data_length),
        other => panic!("{other:?}"),
    };
    assert_eq!(data(&mut t, "/n"), (None, 0));
    assert_eq!(data(&mut t, "/e"), (Some(vec![]), 0));
    assert_ne!(t.digest(), {
        let mut other = DataTree::new();
        w(&mut other, 1, create("/n", b"", Persistent)).unwrap();
        w(&mut other, 2, create("/e", b"", Persistent)).unwrap();
        other.digest()
    });
    w(&mut t, 3, set("/n", b"x", -1)).unwrap();
    let to_null = WriteOp::SetData {
        path: "/e".into(),
        data: None,
        version: -1,
    };
    w(&mut t, 4, to_null).unwrap();
    assert_eq!(data(&mut t, "/n"), (Some(b"x".to_vec()), 1));
    assert_eq!(data(&mut t, "/e"), (None, 0));
    let mut r = DataTree::restore(&t.snapshot()).unwrap();
    assert_eq!(data(&mut r, "/e"), (None, 0));
    assert_eq!(r.digest(), t.digest());
}

#[test]
fn snapshot_round_trip() {
    let mut t = DataTree::new();
    t.create_session(S1, 500);
    t.create_session(S2, 700);
    w(&mut t, 1, create("/a", b"data", Persistent)).unwrap();
    w(&mut t, 2, create("/a/", b"", EphemeralSequential)).unwrap();
    w(&mut t, 3, create("/b", &vec![9; 4096], Persistent)).unwrap();
    w(&mut t, 4, set("/a", b"more", 0)).unwrap();
    w(&mut t, 5, delete("/b", -1)).unwrap();
    t.read(&get_data("/a", true), 1).unwrap();
    let bytes = t.snapshot();
    let mut r = DataTree::restore(&bytes).unwrap();
    assert_eq!(r, t);
    assert_eq!(r.digest(), t.digest());
    assert_eq!(r.snapshot(), bytes);
    assert_eq!(r.watch_count(), 0, "watches are not in snapshots");
    assert_eq!(r.ephemerals(S1), t.ephemerals(S1));
    assert_eq!(r.sessions(), t.sessions());
    // The restored tree keeps working like the original.
    let (x, _) = r.apply_write(&hdr(6), &create("/a/", b"", PersistentSequential));
    let (y, _) = t.apply_write(&hdr(6), &create("/a/", b"", PersistentSequential));
    assert_eq!(x, y);
    r.close_session(&hdr(7), S1);
    t.close_session(&hdr(7), S1);
    assert_eq!(r.digest(), t.digest());
    assert_eq!(
        DataTree::restore(&DataTree::new().snapshot()),
        Ok(DataTree::new())
    );
}

#[test]
fn restore_rejects_garbage() {
    let mut t = DataTree::new();
    t.create_session(S1, 500);
    w(&mut t, 1, create("/a", b"data", Persistent)).unwrap();
    w(&mut t, 2, create("/a/e", b"", Ephemeral)).unwrap();
    let good = t.snapshot();
    let bad = Err(ErrorCode::MarshallingError);
    assert_eq!(DataTree::restore(&[]), bad);
    assert_eq!(DataTree::restore(b"hello world, not a tree"), bad);
    assert_eq!(DataTree::restore(&[0xff; 100]), bad);
    for cut in 0..good.len() {
        assert_eq!(DataTree::restore(&good[..cut]), bad, "cut {cut}");
    }
    for i in 0..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x40;
        assert_eq!(DataTree::restore(&b), bad, "flip {i}");
    }
    let mut extra = good.clone();
    extra.push(0);
    assert_eq!(DataTree::restore(&extra), bad);

    // Well-formed bodies with a valid checksum but impossible content.
    let seal = |body: Vec<u8>| {
        let mut out = b"ZKTREE02".to_vec();
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    };
    type Body = (
        Vec<(String, Option<Vec<u8>>, Stat, crate::acl::NodeAcl)>,
        BTreeMap<SessionId, u64>,
    );
    let enc = |b: &Body| seal(bincode::serialize(b).unwrap());
    let root = ("/".to_string(), Some(vec![]), Stat::default(), None);
    let leaf = |path: &str, owner: SessionId| {
        let stat = Stat {
            ephemeral_owner: owner,
            ..Stat::default()
        };
        (path.to_string(), Some(vec![]), stat, None)
    };
    let with_children = |n: i32| {
        let mut r = root.clone();
        r.2.num_children = n;
        r
    };
    let with_acl = |acl: crate::acl::NodeAcl| {
        let mut r = root.clone();
        r.3 = acl;
        r
    };
    let sessions: BTreeMap<SessionId, u64> = [(S1, 5)].into();
    let ok: Body = (vec![with_children(1), leaf("/a", S1)], sessions.clone());
    assert!(DataTree::restore(&enc(&ok)).is_ok());
    let impossible: Vec<Body> = vec![
        (vec![], sessions.clone()),                                 // no root
        (vec![leaf("/a", 0)], sessions.clone()),                    // no root
        (vec![root.clone(), leaf("/a/b", 0)], sessions.clone()),    // orphan
        (vec![with_children(1), leaf("/a", 99)], sessions.clone()), // dead owner
        (vec![root.clone(), leaf("/a", 0)], sessions.clone()),      // bad count
        (vec![with_acl(Some(Box::new(vec![])))], sessions.clone()), // empty ACL
        (
            vec![with_acl(Some(Box::new(crate::acl::open())))],
            sessions.clone(),
        ), // open ACL not as None
        (vec![with_children(1), leaf("a", 0)], sessions.clone()),   // bad path
        (
            vec![with_children(1), leaf("/a", 0), leaf("/a", 0)],
            sessions.clone(),
        ), // duplicate
        (
            vec![with_children(1), leaf("/a", S1), leaf("/a/b", 0)],
            sessions.clone(),
        ), // child of an ephemeral
        (
            vec![(String::from("/"), Some(vec![1]), Stat::default(), None)],
            sessions.clone(),
        ), // data_length mismatch
    ];
    for (i, body) in impossible.iter().enumerate() {
        assert_eq!(DataTree::restore(&enc(body)), bad, "case {i}");
    }
}

/// ZooKeeper's permissions, checked as a write applies: CREATE and DELETE
/// on the parent, WRITE and READ on the node, ADMIN to change the ACL.
#[test]
fn acls_are_enforced_on_every_operation() {
    use crate::acl::{self, Acl, Id};
    use crate::jute::perms;
    let alice = acl::id("digest", &acl::digest_id("alice:pw"));
    let bob = acl::id("digest", &acl::digest_id("bob:pw"));
    let entry = |perms, id: &Id| Acl {
        perms,
        id: id.clone(),
    };
    let world = acl::id("world", "anyone");
    let mine = Some(Box::new(vec![
        entry(perms::ALL, &alice),
        entry(perms::READ, &world),
    ]));
    let mut t = DataTree::new();
    let as_ = |t: &mut DataTree, zxid, op: WriteOp, who: &Id| {
        t.apply_write_at(&hdr(zxid), &op, std::slice::from_ref(who))
            .result
    };
    let create_acl = WriteOp::Create {
        path: "/p".into(),
        data: Some(b"v".to_vec()),
        mode: Persistent,
        acl: mine.clone(),
    };
    assert!(as_(&mut t, 1, create_acl, &bob).is_ok(), "/ is open");
    let noauth = Err(ErrorCode::NoAuth);
    assert_eq!(as_(&mut t, 2, set("/p", b"x", -1), &bob), noauth);
    assert_eq!(
        as_(&mut t, 3, create("/p/c", b"", Persistent), &bob),
        noauth
    );
    assert!(as_(&mut t, 4, create("/p/c", b"", Persistent), &alice).is_ok());
    assert_eq!(as_(&mut t, 5, delete("/p/c", -1), &bob), noauth);
    assert!(as_(&mut t, 6, set("/p", b"x", -1), &alice).is_ok());
    // Reads: READ for data, nothing for exists.
    let read =
        |t: &mut DataTree, op: &ReadOp, who: &Id| t.read_as(op, 1, std::slice::from_ref(who));
    assert!(read(&mut t, &get_data("/p", false), &bob).is_ok());
    // Only ADMIN may change the ACL, and aversion guards it.
    let close = |version| WriteOp::SetAcl {
        path: "/p".into(),
        acl: Some(Box::new(vec![entry(perms::ALL, &alice)])),
        version,
    };
    assert_eq!(as_(&mut t, 7, close(-1), &bob), noauth);
    assert_eq!(as_(&mut t, 8, close(3), &alice), Err(ErrorCode::BadVersion));
    let Ok(OpResult::AclSet { stat }) = as_(&mut t, 9, close(0), &alice) else {
        panic!("setACL failed")
    };
    assert_eq!(stat.aversion, 1);
    assert_eq!(
        read(&mut t, &get_data("/p", false), &bob),
        Err(ErrorCode::NoAuth)
    );
    assert!(read(&mut t, &exists("/p", false), &bob).is_ok());
    // getACL: READ or ADMIN; without ADMIN a digest id shows only its user.
    let get_acl = ReadOp::GetAcl { path: "/p".into() };
    assert_eq!(read(&mut t, &get_acl, &bob), Err(ErrorCode::NoAuth));
    let Ok(OpResult::Acl { acl, .. }) = read(&mut t, &get_acl, &alice) else {
        panic!()
    };
    assert_eq!(acl, vec![entry(perms::ALL, &alice)]);
    let peek = WriteOp::SetAcl {
        path: "/p".into(),
        acl: Some(Box::new(vec![
            entry(perms::ALL, &alice),
            entry(perms::READ, &bob),
        ])),
        version: -1,
    };
    assert!(as_(&mut t, 10, peek, &alice).is_ok());
    let Ok(OpResult::Acl { acl, .. }) = read(&mut t, &get_acl, &bob) else {
        panic!()
    };
    assert_eq!(acl[0].id.id, "alice:x");
}

/// A node's ACL is replicated state: in the digest, in snapshots, and put
/// back when a multi that changed it fails.
#[test]
fn acls_are_in_the_digest_snapshots_and_rollback() {
    use crate::acl;
    use crate::jute::perms;
    let alice = acl::id("digest", &acl::digest_id("alice:pw"));
    let only_alice = Some(Box::new(vec![crate::acl::Acl {
        perms: perms::ALL,
        id: alice.clone(),
    }]));
    let mut open = DataTree::new();
    let mut closed = DataTree::new();
    w(&mut open, 1, create("/a", b"", Persistent)).unwrap();
    let op = WriteOp::Create {
        path: "/a".into(),
        data: Some(vec![]),
        mode: Persistent,
        acl: only_alice.clone(),
    };
    w(&mut closed, 1, op).unwrap();
    assert_ne!(open.digest(), closed.digest(), "the ACL is in the digest");
    let restored = DataTree::restore(&closed.snapshot()).unwrap();
    assert_eq!(restored.digest(), closed.digest());
    let get_acl = ReadOp::GetAcl { path: "/a".into() };
    assert!(matches!(
        restored.clone().read_as(&get_acl, 1, std::slice::from_ref(&alice)),
        Ok(OpResult::Acl { acl, .. }) if only_alice.as_deref() == Some(&acl)
    ));
    let before = closed.digest();
    let multi = WriteOp::Multi(vec![
        WriteOp::SetAcl {
            path: "/a".into(),
            acl: None,
            version: -1,
        },
        check("/a", 9),
    ]);
    let failed = closed.apply_write_at(&hdr(2), &multi, &[alice]);
    assert_eq!(failed.result, Err(ErrorCode::BadVersion));
    assert_eq!(closed.digest(), before, "the ACL came back");
    // Only the stored form is accepted: no `auth` entries, no empty list.
    let raw = WriteOp::SetAcl {
        path: "/a".into(),
        acl: Some(Box::new(acl::open())),
        version: -1,
    };
    assert_eq!(DataTree::validate_write(&raw), Err(ErrorCode::InvalidAcl));
}

/// ZooKeeper keeps a parent's count of creates and reports cversion as
/// creates plus deletes; a sequential name is the count of creates, not
/// the reported cversion (found by compat/differential.py against
/// ZooKeeper 3.8): after a delete the next name is not skipped ahead.
#[test]
fn a_sequential_name_counts_the_parents_creates() {
    let mut t = DataTree::new();
    w(&mut t, 1, create("/q", b"", Persistent)).unwrap();
    for z in 2..=4 {
        w(&mut t, z, create("/q/n-", b"", PersistentSequential)).unwrap();
    }
    w(&mut t, 5, delete("/q/n-0000000001", -1)).unwrap();
    let q = stat(&mut t, "/q");
    assert_eq!((q.cversion, q.num_children, q.pzxid), (4, 2, Zxid(5)));
    let next = w(&mut t, 6, create("/q/n-", b"", PersistentSequential));
    assert!(
        matches!(&next, Ok(OpResult::Created { path, .. }) if path == "/q/n-0000000003"),
        "{next:?}"
    );
}
