//! The guarantees a client sees, each checked in a simulated 3-server
//! ensemble through the whole stack (client, wire, server, ZAB, tree):
//! ephemerals and sessions, sequential names, error codes, atomic multi,
//! one-shot watches delivered before the new data is readable, failover that
//! keeps the session and never goes back in time, FIFO pipelining.
//!
//! Seeds come from `ZKSTORM_SEEDS` (e.g. `ZKSTORM_SEEDS=0..50`); a failure
//! prints the command that replays it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, timeout, Instant};
use zkstorm::client::{Answer, Client, ClientConfig, ClientEvent, ConnState, Zk};
use zkstorm::proto::{
    CreateMode, ErrorCode, EventType, OpResult, ReadOp, WatchedEvent, WriteOp, MAX_DATA_LEN,
};
use zkstorm::server::wire::ClientOp;
use zkstorm::types::{Sid, Zxid};
use zkstorm_sim::cluster::{server_ip, Cluster, ClusterConfig, CLIENT_PORT};
use zkstorm_sim::history::History;
use zkstorm_sim::runner::{run_seed, seeds_from_env};

use CreateMode::{Ephemeral, EphemeralSequential, Persistent, PersistentSequential};

/// Simulated time allowed per seed; every test needs far less.
const LIMIT: Duration = Duration::from_secs(300);

type Events = mpsc::UnboundedReceiver<ClientEvent>;

/// Run `body` in a fresh simulation for each seed; a panic comes back with
/// the command that replays it.
fn sim<F, Fut>(name: &str, default_seeds: std::ops::Range<u64>, body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    for seed in seeds_from_env(default_seeds) {
        if let Err(e) = run_seed(seed, LIMIT, body.clone()) {
            panic!(
                "seed {seed}: {e}\n  replay: ZKSTORM_SEEDS={seed} cargo test --test client {name}"
            );
        }
    }
}

/// A 3-server ensemble with an established leader.
async fn ensemble() -> (Cluster, Sid) {
    let cluster = Cluster::start(&ClusterConfig::new(3), History::new());
    let leader = wait_leader(&cluster).await;
    (cluster, leader)
}

async fn wait_leader(cluster: &Cluster) -> Sid {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(l) = cluster.leader() {
            return l;
        }
        assert!(Instant::now() < deadline, "no leader within 30s");
        sleep(Duration::from_millis(100)).await;
    }
}

fn addr(sid: Sid) -> SocketAddr {
    SocketAddr::new(server_ip(sid), CLIENT_PORT)
}

async fn connect_cfg(cfg: ClientConfig) -> (Client, Events) {
    timeout(Duration::from_secs(20), Client::connect(cfg))
        .await
        .expect("connected within 20s")
        .expect("session established")
}

/// A client that may only talk to server `sid`.
async fn connect_to(sid: Sid) -> (Client, Events) {
    connect_cfg(ClientConfig::new(vec![addr(sid)])).await
}

/// A client that may fail over to any server, but whose session was created
/// by (so whose first connection is to) server `sid`. Session ids carry the
/// creating server in their top byte.
async fn connect_via(servers: Vec<SocketAddr>, sid: Sid, timeout_ms: u64) -> (Client, Events) {
    for seed in 0..64 {
        let mut cfg = ClientConfig::new(servers.clone());
        cfg.seed = seed;
        cfg.session_timeout_ms = timeout_ms;
        let (c, ev) = connect_cfg(cfg).await;
        if c.session_id() >> 56 == sid {
            return (c, ev);
        }
        c.close().await.expect("close an unused session");
    }
    panic!("no client seed lands on server {sid}");
}

/// The next watch event already delivered, skipping state changes.
fn delivered_watch(events: &mut Events) -> Option<WatchedEvent> {
    while let Ok(ev) = events.try_recv() {
        if let ClientEvent::Watch(w) = ev {
            return Some(w);
        }
    }
    None
}

/// The connection state changes delivered so far (the first is the
/// Connected of `Client::connect`); watch events are dropped.
fn states(events: &mut Events) -> Vec<ConnState> {
    let mut out = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let ClientEvent::State(s) = ev {
            out.push(s);
        }
    }
    out
}

async fn next_watch(events: &mut Events) -> WatchedEvent {
    let wait = async {
        loop {
            match events.recv().await {
                Some(ClientEvent::Watch(w)) => return w,
                Some(ClientEvent::State(_)) => {}
                None => panic!("events channel closed"),
            }
        }
    };
    timeout(Duration::from_secs(10), wait)
        .await
        .expect("a watch event within 10s")
}

/// Retry through ConnectionLoss (a failover under way) until another answer.
async fn retry<T, F, Fut>(mut op: F) -> Result<T, ErrorCode>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ErrorCode>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match op().await {
            Err(ErrorCode::ConnectionLoss) if Instant::now() < deadline => {
                sleep(Duration::from_millis(50)).await
            }
            r => return r,
        }
    }
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Polls the futures in index order — so a client queues their requests in
/// that order, all before any answer comes back — and waits for all of them.
async fn join_in_order<T>(mut futs: Vec<BoxFut<'_, T>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("ready")).collect()
}

fn read(path: &str) -> ClientOp {
    ClientOp::Read(ReadOp::GetData {
        path: path.into(),
        watch: false,
    })
}

fn set(path: &str, data: &[u8], version: i32) -> ClientOp {
    ClientOp::Write(WriteOp::SetData {
        path: path.into(),
        data: Some(data.into()),
        version,
    })
}

fn create_op(path: &str, data: &[u8], mode: CreateMode) -> WriteOp {
    WriteOp::Create {
        path: path.into(),
        data: Some(data.into()),
        mode,
        acl: None,
    }
}

// ------------------------------------------------------------------ 1. seed doc

/// The seed document's example: an ephemeral `/data`, written and read back,
/// seen by another client, gone once its session closes.
#[test]
fn ephemeral_data_is_read_back_and_goes_with_its_session() {
    sim(
        "ephemeral_data_is_read_back_and_goes_with_its_session",
        0..2,
        || async {
            let (mut cluster, leader) = ensemble().await;
            let follower = cluster.followers()[0];
            let node = cluster.client_node(0);
            node.spawn(async move {
                let (a, _ea) = connect_to(follower).await;
                let (b, _eb) = connect_to(leader).await;
                let payload = b"hello from the seed document";
                let path = a.create("/data", payload, Ephemeral).await.unwrap();
                assert_eq!(path, "/data");
                let (data, stat) = a.get_data("/data", false).await.unwrap();
                assert_eq!(data, payload);
                assert_eq!(stat.ephemeral_owner, a.session_id());
                assert_ne!(stat.ephemeral_owner, 0);
                assert_eq!(stat.version, 0);
                assert_eq!(stat.cversion, 0);
                assert_eq!(stat.data_length, payload.len() as i32);
                assert_eq!(stat.num_children, 0);
                assert_eq!(stat.czxid, stat.mzxid);
                assert_eq!(stat.czxid, stat.pzxid);
                assert!(stat.czxid > Zxid::ZERO);
                assert_eq!(stat.ctime, stat.mtime);

                b.sync().await.unwrap();
                let (bdata, bstat) = b.get_data("/data", false).await.unwrap();
                assert_eq!(bdata, payload);
                assert_eq!(bstat, stat, "every server holds the same Stat");
                let root = b.exists("/", false).await.unwrap().expect("root");
                assert_eq!(root.pzxid, stat.czxid);
                assert!(b
                    .get_children("/", false)
                    .await
                    .unwrap()
                    .contains(&"data".to_string()));

                a.close().await.unwrap();
                assert_eq!(
                    a.get_data("/data", false).await,
                    Err(ErrorCode::SessionExpired),
                    "a closed client answers SessionExpired"
                );
                b.sync().await.unwrap();
                assert_eq!(b.exists("/data", false).await.unwrap(), None);
                assert_eq!(b.get_data("/data", false).await, Err(ErrorCode::NoNode));
            })
            .await
            .unwrap();
        },
    );
}

// ------------------------------------------------------------ 2. sequential

#[test]
fn sequential_names_count_the_parents_creates() {
    sim(
        "sequential_names_count_the_parents_creates",
        0..2,
        || async {
            let (mut cluster, leader) = ensemble().await;
            let follower = cluster.followers()[0];
            let node = cluster.client_node(0);
            node.spawn(async move {
                let (c, _ec) = connect_to(follower).await;
                let (other, _eo) = connect_to(leader).await;
                c.create("/q", b"", Persistent).await.unwrap();
                for i in 0..3 {
                    let name = c
                        .create("/q/item-", b"x", PersistentSequential)
                        .await
                        .unwrap();
                    assert_eq!(name, format!("/q/item-{i:010}"));
                }
                assert_eq!(
                    c.exists("/q/item-0000000002", false)
                        .await
                        .unwrap()
                        .map(|s| s.ephemeral_owner),
                    Some(0)
                );
                // A delete counts in cversion (3 creates + 1 delete), not in
                // the names, which count creates (as ZooKeeper's do).
                c.delete("/q/item-0000000001", -1).await.unwrap();
                let q = c.exists("/q", false).await.unwrap().unwrap();
                assert_eq!((q.cversion, q.num_children), (4, 2));
                assert_eq!(
                    c.create("/q/item-", b"x", PersistentSequential)
                        .await
                        .unwrap(),
                    "/q/item-0000000003"
                );
                // Ephemeral sequential nodes share the parent's counter.
                let lock = c
                    .create("/q/lock-", b"", EphemeralSequential)
                    .await
                    .unwrap();
                assert_eq!(lock, "/q/lock-0000000004");
                let (_, lstat) = c.get_data(&lock, false).await.unwrap();
                assert_eq!(lstat.ephemeral_owner, c.session_id());
                // An empty prefix: the name is the counter alone.
                assert_eq!(
                    c.create("/q/", b"", PersistentSequential).await.unwrap(),
                    "/q/0000000005"
                );
                // A failed create does not advance the counter.
                assert_eq!(
                    c.create("/q/item-0000000000", b"", Persistent).await,
                    Err(ErrorCode::NodeExists)
                );
                assert_eq!(
                    c.create("/q/item-", b"", PersistentSequential)
                        .await
                        .unwrap(),
                    "/q/item-0000000006"
                );
                let mut expect: Vec<String> = [
                    "0000000005",
                    "item-0000000000",
                    "item-0000000002",
                    "item-0000000003",
                    "item-0000000006",
                    "lock-0000000004",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                assert_eq!(c.get_children("/q", false).await.unwrap(), expect);
                other.sync().await.unwrap();
                assert_eq!(other.get_children("/q", false).await.unwrap(), expect);

                // Closing the session deletes the ephemeral one (another
                // cversion step, not another name).
                c.close().await.unwrap();
                other.sync().await.unwrap();
                expect.retain(|n| !n.starts_with("lock-"));
                assert_eq!(other.get_children("/q", false).await.unwrap(), expect);
                let q = other.exists("/q", false).await.unwrap().unwrap();
                assert_eq!((q.cversion, q.num_children), (9, 5));
                assert_eq!(
                    other
                        .create("/q/item-", b"", EphemeralSequential)
                        .await
                        .unwrap(),
                    "/q/item-0000000007"
                );
            })
            .await
            .unwrap();
        },
    );
}

// ---------------------------------------------------------------- 3. errors

/// Malformed paths: no leading '/', trailing '/', "//", ".", "..", NUL, control chars.
const BAD_PATHS: &[&str] = &[
    "",
    "data",
    "a/b",
    "/data/",
    "//",
    "//a",
    "/a//b",
    "/.",
    "/..",
    "/a/./b",
    "/a/../b",
    "/a/.",
    "/nul\0byte",
    "/ctl\u{1}",
];

/// Every error path of one client on one server, ending with a write that
/// must still succeed.
async fn error_barrage(c: &Client, p: &str) {
    use ErrorCode::*;
    let big = vec![7u8; MAX_DATA_LEN + 1];
    let at = |s: &str| format!("{p}{s}");

    // NoNode
    assert_eq!(c.get_data(&at("/none"), false).await, Err(NoNode));
    assert_eq!(c.get_children(&at("/none"), false).await, Err(NoNode));
    assert_eq!(c.exists(&at("/none"), false).await, Ok(None));
    assert_eq!(c.set_data(&at("/none"), b"x", -1).await, Err(NoNode));
    assert_eq!(c.delete(&at("/none"), -1).await, Err(NoNode));
    assert_eq!(
        c.create(&at("/none/child"), b"", Persistent).await,
        Err(NoNode)
    );
    assert_eq!(
        c.create(&at("/none/seq-"), b"", PersistentSequential).await,
        Err(NoNode)
    );

    // NodeExists
    c.create(p, b"", Persistent).await.unwrap();
    c.create(&at("/e"), b"v0", Persistent).await.unwrap();
    assert_eq!(c.create(&at("/e"), b"", Persistent).await, Err(NodeExists));
    assert_eq!(c.create(&at("/e"), b"", Ephemeral).await, Err(NodeExists));

    // BadVersion
    assert_eq!(c.set_data(&at("/e"), b"x", 7).await, Err(BadVersion));
    assert_eq!(c.delete(&at("/e"), 3).await, Err(BadVersion));
    assert_eq!(c.set_data(&at("/e"), b"v1", 0).await.unwrap().version, 1);
    assert_eq!(c.set_data(&at("/e"), b"x", 0).await, Err(BadVersion));
    assert_eq!(c.get_data(&at("/e"), false).await.unwrap().0, b"v1");

    // NotEmpty
    c.create(&at("/e/child"), b"", Persistent).await.unwrap();
    assert_eq!(c.delete(&at("/e"), -1).await, Err(NotEmpty));
    assert_eq!(c.delete(&at("/e"), 1).await, Err(NotEmpty));

    // NoChildrenForEphemerals
    c.create(&at("/eph"), b"", Ephemeral).await.unwrap();
    assert_eq!(
        c.create(&at("/eph/x"), b"", Persistent).await,
        Err(NoChildrenForEphemerals)
    );
    assert_eq!(
        c.create(&at("/eph/x-"), b"", EphemeralSequential).await,
        Err(NoChildrenForEphemerals)
    );

    // BadArguments: malformed paths, for every kind of request.
    for bad in BAD_PATHS {
        assert_eq!(
            c.create(bad, b"", Persistent).await,
            Err(BadArguments),
            "create {bad:?}"
        );
        assert_eq!(
            c.get_data(bad, false).await,
            Err(BadArguments),
            "get_data {bad:?}"
        );
        assert_eq!(
            c.exists(bad, true).await,
            Err(BadArguments),
            "exists {bad:?}"
        );
        assert_eq!(
            c.get_children(bad, true).await,
            Err(BadArguments),
            "children {bad:?}"
        );
        assert_eq!(
            c.set_data(bad, b"", -1).await,
            Err(BadArguments),
            "set {bad:?}"
        );
        assert_eq!(c.delete(bad, -1).await, Err(BadArguments), "delete {bad:?}");
        let multi = vec![
            create_op(&at("/m"), b"", Persistent),
            create_op(bad, b"", Persistent),
        ];
        assert_eq!(c.multi(multi).await, Err(BadArguments), "multi {bad:?}");
    }
    assert_eq!(c.delete("/", -1).await, Err(BadArguments));
    assert_eq!(
        c.multi(vec![WriteOp::Multi(vec![])]).await,
        Err(BadArguments),
        "nested multi"
    );
    // Data over 1 MiB; exactly 1 MiB is fine.
    assert_eq!(
        c.create(&at("/big"), &big, Persistent).await,
        Err(BadArguments)
    );
    assert_eq!(c.set_data(&at("/e"), &big, -1).await, Err(BadArguments));
    let max = &big[..MAX_DATA_LEN];
    c.create(&at("/max"), max, Persistent).await.unwrap();
    let (data, stat) = c.get_data(&at("/max"), false).await.unwrap();
    assert_eq!(
        (data.len(), stat.data_length),
        (MAX_DATA_LEN, MAX_DATA_LEN as i32)
    );
    c.delete(&at("/max"), 0).await.unwrap();

    // Nothing of the above changed anything it should not have.
    assert_eq!(c.exists(&at("/m"), false).await, Ok(None));
    assert_eq!(c.exists(&at("/big"), false).await, Ok(None));
    assert_eq!(
        c.get_children(p, false).await.unwrap(),
        vec!["e".to_string(), "eph".to_string()]
    );
    // And the same client still writes.
    c.create(&at("/after"), b"still serving", Persistent)
        .await
        .unwrap();
    assert_eq!(c.state(), ConnState::Connected);
}

#[test]
fn errors_are_zookeeper_codes_and_servers_keep_serving() {
    // The numeric codes are ZooKeeper's.
    let codes = [
        (ErrorCode::ConnectionLoss, -4),
        (ErrorCode::BadArguments, -8),
        (ErrorCode::NoNode, -101),
        (ErrorCode::BadVersion, -103),
        (ErrorCode::NoChildrenForEphemerals, -108),
        (ErrorCode::NodeExists, -110),
        (ErrorCode::NotEmpty, -111),
        (ErrorCode::SessionExpired, -112),
    ];
    for (e, n) in codes {
        assert_eq!(e.code(), n, "{e:?}");
    }
    sim(
        "errors_are_zookeeper_codes_and_servers_keep_serving",
        0..1,
        || async {
            let (mut cluster, _) = ensemble().await;
            let sids = cluster.sids();
            let node = cluster.client_node(0);
            node.spawn(async move {
                // One client per server: followers check and forward, the leader proposes.
                for &sid in &sids {
                    let (c, mut events) = connect_to(sid).await;
                    error_barrage(&c, &format!("/s{sid}")).await;
                    let seen = states(&mut events);
                    assert_eq!(
                        seen,
                        vec![ConnState::Connected],
                        "server {sid}: the connection broke"
                    );
                }
                // Afterwards every server still takes new sessions, writes and reads.
                for &sid in &sids {
                    let (c, _ev) = connect_to(sid).await;
                    c.create(&format!("/alive-{sid}"), b"", Persistent)
                        .await
                        .unwrap();
                    c.sync().await.unwrap();
                    for s in &sids {
                        let (data, _) = c.get_data(&format!("/s{s}/after"), false).await.unwrap();
                        assert_eq!(data, b"still serving", "/s{s}/after on server {sid}");
                    }
                }
            })
            .await
            .unwrap();
            assert_eq!(cluster.alive().len(), 3);
            assert!(cluster.leader().is_some());
        },
    );
}

// ----------------------------------------------------------------- 4. multi

#[test]
fn multi_is_all_or_nothing() {
    sim("multi_is_all_or_nothing", 0..2, || async {
        let (mut cluster, leader) = ensemble().await;
        let follower = cluster.followers()[0];
        let node = cluster.client_node(0);
        node.spawn(async move {
            let (c, _ec) = connect_to(follower).await;
            let (w, mut wev) = connect_to(leader).await;
            c.create("/m", b"", Persistent).await.unwrap();
            c.create("/m/keep", b"k0", Persistent).await.unwrap();
            let before = c.exists("/m", false).await.unwrap().unwrap();
            // A watcher elsewhere must hear nothing of a failed multi.
            w.sync().await.unwrap();
            assert_eq!(w.exists("/m/a", true).await.unwrap(), None);
            assert!(w.get_data("/m/keep", true).await.is_ok());

            let failing: Vec<(Vec<WriteOp>, ErrorCode)> = vec![
                (
                    vec![
                        create_op("/m/a", b"1", Persistent),
                        create_op("/m/b", b"2", Persistent),
                        WriteOp::SetData {
                            path: "/m/keep".into(),
                            data: Some(b"k1".to_vec()),
                            version: -1,
                        },
                        WriteOp::Check {
                            path: "/m/missing".into(),
                            version: -1,
                        },
                    ],
                    ErrorCode::NoNode,
                ),
                (
                    vec![
                        create_op("/m/a", b"1", Persistent),
                        WriteOp::Delete {
                            path: "/m/keep".into(),
                            version: -1,
                        },
                        create_op("/m/keep", b"again", Persistent),
                        WriteOp::SetData {
                            path: "/m/keep".into(),
                            data: Some(b"x".to_vec()),
                            version: 5,
                        },
                    ],
                    ErrorCode::BadVersion,
                ),
                (
                    vec![
                        create_op("/m/a", b"1", Persistent),
                        create_op("/m/a", b"1", Persistent),
                    ],
                    ErrorCode::NodeExists,
                ),
                (
                    vec![
                        create_op("/m/e", b"", Ephemeral),
                        create_op("/m/e/x", b"", Persistent),
                    ],
                    ErrorCode::NoChildrenForEphemerals,
                ),
                (
                    vec![
                        create_op("/m/a", b"1", Persistent),
                        create_op("/m/b/", b"2", Persistent),
                    ],
                    ErrorCode::BadArguments,
                ),
            ];
            for (ops, code) in failing {
                assert_eq!(c.multi(ops.clone()).await, Err(code), "{ops:?}");
                let now = c.exists("/m", false).await.unwrap().unwrap();
                assert_eq!(now, before, "a failed multi left a trace: {ops:?}");
                assert_eq!(c.get_children("/m", false).await.unwrap(), vec!["keep"]);
                let (kd, ks) = c.get_data("/m/keep", false).await.unwrap();
                assert_eq!((kd.as_slice(), ks.version), (&b"k0"[..], 0));
            }
            w.sync().await.unwrap();
            assert_eq!(
                delivered_watch(&mut wev),
                None,
                "a failed multi fired a watch"
            );

            let ok = vec![
                create_op("/m/a", b"1", Persistent),
                create_op("/m/b", b"2", Persistent),
                WriteOp::SetData {
                    path: "/m/a".into(),
                    data: Some(b"x".to_vec()),
                    version: 0,
                },
                WriteOp::Check {
                    path: "/m/b".into(),
                    version: 0,
                },
                WriteOp::Delete {
                    path: "/m/b".into(),
                    version: 0,
                },
                WriteOp::SetData {
                    path: "/m/keep".into(),
                    data: Some(b"k1".to_vec()),
                    version: 0,
                },
            ];
            let results = c.multi(ok).await.unwrap();
            assert_eq!(results.len(), 6);
            let OpResult::Created {
                path,
                stat: created,
            } = &results[0]
            else {
                panic!("{results:?}")
            };
            assert_eq!(path, "/m/a");
            let OpResult::SetData { stat: set } = &results[2] else {
                panic!("{results:?}")
            };
            assert_eq!(set.version, 1);
            assert_eq!(results[3], OpResult::Checked);
            assert_eq!(results[4], OpResult::Deleted);
            // One txn: every sub-op carries the same zxid.
            assert_eq!(created.czxid, set.mzxid);

            let (a, astat) = c.get_data("/m/a", false).await.unwrap();
            assert_eq!((a.as_slice(), astat.version), (&b"x"[..], 1));
            assert_eq!(c.exists("/m/b", false).await.unwrap(), None);
            let m = c.exists("/m", false).await.unwrap().unwrap();
            assert_eq!(m.cversion, before.cversion + 3);
            assert_eq!(m.num_children, 2);
            assert_eq!(m.pzxid, created.czxid);

            // The watcher on the other server sees it whole.
            let mut fired = vec![next_watch(&mut wev).await, next_watch(&mut wev).await];
            fired.sort();
            let zxid = created.czxid;
            assert_eq!(
                fired,
                vec![
                    WatchedEvent {
                        event: EventType::NodeCreated,
                        path: "/m/a".into(),
                        zxid
                    },
                    WatchedEvent {
                        event: EventType::NodeDataChanged,
                        path: "/m/keep".into(),
                        zxid
                    },
                ]
            );
            w.sync().await.unwrap();
            assert_eq!(w.get_data("/m/a", false).await.unwrap().0, b"x");
            assert_eq!(
                w.get_children("/m", false).await.unwrap(),
                vec!["a", "keep"]
            );
        })
        .await
        .unwrap();
    });
}

// --------------------------------------------------------------- 5. watches

#[test]
fn data_watch_fires_once() {
    sim("data_watch_fires_once", 0..2, || async {
        let (mut cluster, leader) = ensemble().await;
        let follower = cluster.followers()[0];
        let node = cluster.client_node(0);
        node.spawn(async move {
            let (a, mut events) = connect_to(follower).await;
            let (b, _eb) = connect_to(leader).await;
            b.create("/w", b"v0", Persistent).await.unwrap();
            a.sync().await.unwrap();
            assert_eq!(a.get_data("/w", true).await.unwrap().0, b"v0");
            let s1 = b.set_data("/w", b"v1", -1).await.unwrap();
            let ev = next_watch(&mut events).await;
            assert_eq!(
                ev,
                WatchedEvent {
                    event: EventType::NodeDataChanged,
                    path: "/w".into(),
                    zxid: s1.mzxid
                }
            );
            // One-shot: the next change is not reported.
            b.set_data("/w", b"v2", -1).await.unwrap();
            a.sync().await.unwrap();
            assert_eq!(a.get_data("/w", false).await.unwrap().0, b"v2");
            assert_eq!(
                delivered_watch(&mut events),
                None,
                "a one-shot watch fired twice"
            );
            // A read without a watch sets none.
            b.set_data("/w", b"v3", -1).await.unwrap();
            a.sync().await.unwrap();
            assert_eq!(
                delivered_watch(&mut events),
                None,
                "watch=false set a watch"
            );
            // Re-armed, it fires again; on delete a data watch hears NodeDeleted.
            assert_eq!(a.get_data("/w", true).await.unwrap().0, b"v3");
            b.delete("/w", -1).await.unwrap();
            let ev = next_watch(&mut events).await;
            assert_eq!((ev.event, ev.path.as_str()), (EventType::NodeDeleted, "/w"));
            a.sync().await.unwrap();
            assert_eq!(delivered_watch(&mut events), None);
        })
        .await
        .unwrap();
    });
}

#[test]
fn exists_and_child_watches_fire() {
    sim("exists_and_child_watches_fire", 0..2, || async {
        let (mut cluster, leader) = ensemble().await;
        let follower = cluster.followers()[0];
        let node = cluster.client_node(0);
        node.spawn(async move {
            let (a, mut events) = connect_to(follower).await;
            let (b, _eb) = connect_to(leader).await;
            // exists on a missing node watches for its creation.
            assert_eq!(a.exists("/later", true).await.unwrap(), None);
            let created = b.create("/later", b"", Persistent).await.unwrap();
            assert_eq!(created, "/later");
            let czxid = b.exists("/later", false).await.unwrap().unwrap().czxid;
            let ev = next_watch(&mut events).await;
            assert_eq!(
                ev,
                WatchedEvent {
                    event: EventType::NodeCreated,
                    path: "/later".into(),
                    zxid: czxid
                }
            );

            // Child watches: create and delete of a child, each re-armed.
            b.create("/p", b"", Persistent).await.unwrap();
            a.sync().await.unwrap();
            assert!(a.get_children("/p", true).await.unwrap().is_empty());
            // A data change of the parent is not a child change.
            b.set_data("/p", b"d", -1).await.unwrap();
            a.sync().await.unwrap();
            assert_eq!(delivered_watch(&mut events), None);
            b.create("/p/c", b"", Persistent).await.unwrap();
            let ev = next_watch(&mut events).await;
            assert_eq!(
                (ev.event, ev.path.as_str()),
                (EventType::NodeChildrenChanged, "/p")
            );
            assert_eq!(a.get_children("/p", true).await.unwrap(), vec!["c"]);
            assert!(a.exists("/p/c", true).await.unwrap().is_some());
            b.delete("/p/c", -1).await.unwrap();
            let mut fired = [next_watch(&mut events).await, next_watch(&mut events).await];
            fired.sort();
            let kinds: Vec<(EventType, &str)> =
                fired.iter().map(|e| (e.event, e.path.as_str())).collect();
            assert_eq!(
                kinds,
                vec![
                    (EventType::NodeDeleted, "/p/c"),
                    (EventType::NodeChildrenChanged, "/p")
                ]
            );
            assert_eq!(fired[0].zxid, fired[1].zxid);
            a.sync().await.unwrap();
            assert_eq!(delivered_watch(&mut events), None);
        })
        .await
        .unwrap();
    });
}

/// On A's connection, once A can read the new value its watch event has
/// already arrived: A watches /w, B writes, A reads until it sees the write.
#[test]
fn watch_event_arrives_before_the_new_data_is_readable() {
    sim(
        "watch_event_arrives_before_the_new_data_is_readable",
        0..3,
        || async {
            let (mut cluster, leader) = ensemble().await;
            let follower = cluster.followers()[0];
            let node = cluster.client_node(0);
            node.spawn(async move {
                let (a, mut events) = connect_to(follower).await;
                let (b, _eb) = connect_to(leader).await;
                let b = Arc::new(b);
                b.create("/w", b"0", Persistent).await.unwrap();
                a.sync().await.unwrap();
                for round in 1..=20u32 {
                    let old = (round - 1).to_string();
                    let new = round.to_string();
                    assert_eq!(a.get_data("/w", true).await.unwrap().0, old.as_bytes());
                    let writer = b.clone();
                    let value = new.clone();
                    let write = tokio::spawn(async move {
                        writer.set_data("/w", value.as_bytes(), -1).await.unwrap()
                    });
                    let mut reads = 0;
                    loop {
                        let (data, _) = a.get_data("/w", false).await.unwrap();
                        reads += 1;
                        if data == new.as_bytes() {
                            break;
                        }
                        assert_eq!(data, old.as_bytes());
                        assert!(reads < 10_000, "round {round}: never saw the write");
                    }
                    let ev = delivered_watch(&mut events).unwrap_or_else(|| {
                        panic!("round {round}: read the new data before the watch event arrived")
                    });
                    let stat = write.await.unwrap();
                    assert_eq!(
                        ev,
                        WatchedEvent {
                            event: EventType::NodeDataChanged,
                            path: "/w".into(),
                            zxid: stat.mzxid
                        }
                    );
                    assert_eq!(delivered_watch(&mut events), None);
                }
            })
            .await
            .unwrap();
        },
    );
}

/// The same with reads pipelined back to back, so that one lands in the
/// server's batch together with the COMMIT of the change: the server must
/// send the watch event before any answer that shows the change.
#[test]
fn watch_event_precedes_pipelined_reads_of_the_change() {
    sim(
        "watch_event_precedes_pipelined_reads_of_the_change",
        0..4,
        || async {
            let (mut cluster, leader) = ensemble().await;
            let follower = cluster.followers()[0];
            let node = cluster.client_node(0);
            node.spawn(async move {
                let (a, mut events) = connect_to(follower).await;
                let a = Arc::new(a);
                let (b, _eb) = connect_to(leader).await;
                b.create("/w", b"0", Persistent).await.unwrap();
                a.sync().await.unwrap();
                for round in 1..=30u32 {
                    let new = round.to_string();
                    a.get_data("/w", true).await.unwrap();
                    let write = b.set_data("/w", new.as_bytes(), -1);
                    let reads = async {
                        let mut event = None;
                        loop {
                            let wave: Vec<_> = (0..8)
                                .map(|_| {
                                    let a = a.clone();
                                    tokio::spawn(async move { a.call(read("/w")).await })
                                })
                                .collect();
                            let mut changed = false;
                            for h in wave {
                                let r = h.await.unwrap();
                                let Ok(OpResult::Data { data, .. }) = r else {
                                    panic!("read failed: {r:?}")
                                };
                                if data.as_deref() == Some(new.as_bytes()) {
                                    event = event.or_else(|| delivered_watch(&mut events));
                                    assert!(
                                        event.is_some(),
                                        "round {round}: an answer showed the change before its watch event"
                                    );
                                    changed = true;
                                }
                            }
                            if changed {
                                return event;
                            }
                        }
                    };
                    let (stat, event) = tokio::join!(write, reads);
                    assert_eq!(event.map(|e| e.zxid), Some(stat.unwrap().mzxid));
                }
            })
            .await
            .unwrap();
        },
    );
}

/// A client that set watches and then moves to another server (its own
/// crashed) still hears of the changes, also of one made while it was moving,
/// before it can read them — ZooKeeper's client re-registers its watches on
/// reconnect (SetWatches, relative to the last zxid it saw).
#[test]
fn watches_survive_a_failover() {
    sim("watches_survive_a_failover", 0..2, || async {
        let (mut cluster, leader) = ensemble().await;
        let follower = cluster.followers()[0];
        let servers = cluster.client_addrs();
        let node = cluster.client_node(0);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (crashed_tx, crashed_rx) = oneshot::channel::<()>();
        let task = node.spawn(async move {
            let (a, mut events) = connect_via(servers, follower, 4000).await;
            let (b, _eb) = connect_to(leader).await;
            b.create("/w", b"v0", Persistent).await.unwrap();
            b.create("/moved", b"m0", Persistent).await.unwrap();
            a.sync().await.unwrap();
            a.get_data("/w", true).await.unwrap();
            a.get_data("/moved", true).await.unwrap();
            assert_eq!(a.exists("/born", true).await.unwrap(), None);
            ready_tx.send(()).unwrap();
            crashed_rx.await.unwrap();
            // Changed while A is between servers.
            let moved = b.set_data("/moved", b"m1", -1).await.unwrap();
            retry(|| a.sync()).await.unwrap();
            assert_eq!(a.get_data("/moved", false).await.unwrap().0, b"m1");
            let ev = delivered_watch(&mut events).expect("the change made while moving");
            assert_eq!(
                (ev.event, ev.path.as_str()),
                (EventType::NodeDataChanged, "/moved")
            );
            // Fired on reconnecting, it carries the new server's applied
            // zxid (past the sync that confirmed the session), never one
            // below the change.
            assert!(ev.zxid >= moved.mzxid, "{ev:?} before {:?}", moved.mzxid);
            // Changed after A reconnected.
            let set = b.set_data("/w", b"v1", -1).await.unwrap();
            b.create("/born", b"", Persistent).await.unwrap();
            a.sync().await.unwrap();
            assert_eq!(a.get_data("/w", false).await.unwrap().0, b"v1");
            let mut fired = [
                delivered_watch(&mut events).expect("a watch set before the failover"),
                delivered_watch(&mut events).expect("a watch set before the failover"),
            ];
            fired.sort();
            assert_eq!(
                (fired[0].event, fired[0].path.as_str()),
                (EventType::NodeCreated, "/born")
            );
            assert_eq!(
                fired[1],
                WatchedEvent {
                    event: EventType::NodeDataChanged,
                    path: "/w".into(),
                    zxid: set.mzxid
                }
            );
            assert_eq!(delivered_watch(&mut events), None);
        });
        ready_rx.await.unwrap();
        cluster.crash(follower);
        crashed_tx.send(()).unwrap();
        task.await.unwrap();
    });
}

// -------------------------------------------------------------- 6. sessions

/// A client cut off from every server past its session timeout loses its
/// session: the leader expires it, its ephemerals go, and when the client
/// gets through again it is told Expired.
#[test]
fn expired_session_loses_its_ephemerals() {
    sim("expired_session_loses_its_ephemerals", 0..3, || async {
        let (mut cluster, _) = ensemble().await;
        let servers = cluster.client_addrs();
        let victim_node = cluster.client_node(0);
        let watcher_node = cluster.client_node(1);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (healed_tx, healed_rx) = oneshot::channel::<()>();
        let all = servers.clone();
        let victim = victim_node.spawn(async move {
            let mut cfg = ClientConfig::new(all);
            cfg.session_timeout_ms = 2000;
            let (c, mut events) = connect_cfg(cfg).await;
            c.create("/eph", b"mine", Ephemeral).await.unwrap();
            let seq = c.create("/eph-", b"", EphemeralSequential).await.unwrap();
            let session = c.session_id();
            ready_tx.send((session, seq)).unwrap();
            healed_rx.await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while c.state() != ConnState::Expired {
                assert!(
                    Instant::now() < deadline,
                    "no Expired after the heal: {:?}",
                    c.state()
                );
                sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(
                c.get_data("/eph", false).await,
                Err(ErrorCode::SessionExpired)
            );
            assert_eq!(
                c.create("/x", b"", Persistent).await,
                Err(ErrorCode::SessionExpired)
            );
            assert_eq!(
                c.session_id(),
                session,
                "the id stays that of the lost session"
            );
            let states = states(&mut events);
            assert_eq!(states.last(), Some(&ConnState::Expired), "{states:?}");
            assert!(states.contains(&ConnState::Disconnected), "{states:?}");
        });
        let (session, seq) = ready_rx.await.unwrap();

        // Just cut off, well within its timeout: the ephemerals stand.
        cluster.isolate_client(victim_node.id());
        let all = servers.clone();
        let seq2 = seq.clone();
        watcher_node
            .spawn(async move {
                let (w, _ew) = connect_cfg(ClientConfig::new(all)).await;
                w.sync().await.unwrap();
                let stat = w.exists("/eph", false).await.unwrap().expect("still there");
                assert_eq!(stat.ephemeral_owner, session);
                assert!(w.exists(&seq2, false).await.unwrap().is_some());
                w.close().await.unwrap();
            })
            .await
            .unwrap();
        // Well past the timeout (2 s): expired while still cut off.
        sleep(Duration::from_secs(6)).await;
        let all = servers.clone();
        watcher_node
            .spawn(async move {
                let (w, _ew) = connect_cfg(ClientConfig::new(all)).await;
                w.sync().await.unwrap();
                assert_eq!(
                    w.exists("/eph", false).await.unwrap(),
                    None,
                    "expired ephemeral kept"
                );
                assert_eq!(
                    w.exists(&seq, false).await.unwrap(),
                    None,
                    "expired ephemeral kept"
                );
                assert!(w
                    .get_children("/", false)
                    .await
                    .unwrap()
                    .iter()
                    .all(|n| !n.starts_with("eph")));
                w.close().await.unwrap();
            })
            .await
            .unwrap();
        cluster.heal();
        healed_tx.send(()).unwrap();
        victim.await.unwrap();
    });
}

/// While a client keeps pinging, its ephemerals outlive many session
/// timeouts — whether its server is the leader or a follower.
#[test]
fn pinging_sessions_keep_their_ephemerals() {
    sim("pinging_sessions_keep_their_ephemerals", 0..2, || async {
        let (mut cluster, _) = ensemble().await;
        let sids = cluster.sids();
        let node = cluster.client_node(0);
        node.spawn(async move {
            let mut clients = Vec::new();
            for &sid in &sids {
                let mut cfg = ClientConfig::new(vec![addr(sid)]);
                cfg.session_timeout_ms = 1000;
                let (c, events) = connect_cfg(cfg).await;
                c.create(&format!("/live-{sid}"), b"", Ephemeral)
                    .await
                    .unwrap();
                clients.push((sid, c, events));
            }
            // Ten session timeouts of doing nothing but pinging.
            sleep(Duration::from_secs(10)).await;
            let owners: Vec<(Sid, u64)> = clients
                .iter()
                .map(|(s, c, _)| (*s, c.session_id()))
                .collect();
            for (sid, c, events) in &mut clients {
                assert_eq!(c.state(), ConnState::Connected, "client on {sid}");
                assert_eq!(
                    states(events),
                    vec![ConnState::Connected],
                    "client on {sid} lost its connection while idle"
                );
                c.sync().await.unwrap();
                for (other, owner) in &owners {
                    let stat = c.exists(&format!("/live-{other}"), false).await.unwrap();
                    assert_eq!(
                        stat.map(|s| s.ephemeral_owner),
                        Some(*owner),
                        "/live-{other} seen from {sid}"
                    );
                }
            }
        })
        .await
        .unwrap();
    });
}

/// Nothing of a session is applied after its end: a write the client sent
/// just before the leader expired its session (it reaches the leader after
/// the CloseSession) must not take effect. Here the client's server is cut
/// from the leader for less than the sync limit but more than the session
/// timeout, and the client writes in that window.
#[test]
fn no_write_of_a_session_lands_after_it_expired() {
    sim(
        "no_write_of_a_session_lands_after_it_expired",
        0..3,
        || async {
            let (mut cluster, leader) = ensemble().await;
            let follower = cluster.followers()[0];
            let node = cluster.client_node(0);
            let (ready_tx, ready_rx) = oneshot::channel();
            let (cut_tx, cut_rx) = oneshot::channel::<()>();
            let victim = node.spawn(async move {
                let mut cfg = ClientConfig::new(vec![addr(follower)]);
                cfg.session_timeout_ms = 400;
                let (c, _ev) = connect_cfg(cfg).await;
                c.create("/zombie-eph", b"", Ephemeral).await.unwrap();
                ready_tx.send(c.session_id()).unwrap();
                cut_rx.await.unwrap();
                let r = c.create("/zombie", b"", Persistent).await;
                assert_ne!(r, Ok("/zombie".into()), "a write acknowledged after expiry");
                r
            });
            let session = ready_rx.await.unwrap();
            cluster.partition(&[vec![leader], vec![follower]]);
            // Past the session timeout (400 ms), within the sync limit (1 s).
            sleep(Duration::from_millis(700)).await;
            cut_tx.send(()).unwrap();
            sleep(Duration::from_millis(100)).await;
            cluster.heal();
            let answer = victim.await.unwrap();
            sleep(Duration::from_secs(1)).await;
            let observer = cluster.client_node(1);
            observer
            .spawn(async move {
                let (o, _eo) = connect_to(leader).await;
                o.sync().await.unwrap();
                assert_eq!(o.exists("/zombie-eph", false).await.unwrap(), None);
                assert_eq!(
                    o.exists("/zombie", false).await.unwrap(),
                    None,
                    "session {session:#x} wrote after its CloseSession (its client was told {answer:?})"
                );
            })
            .await
            .unwrap();
        },
    );
}

/// A call never hangs: a write in flight on a follower that is cut off from
/// the rest of the ensemble (its forward to the leader stuck on the cut
/// link) ends with ConnectionLoss once the follower gives up on its leader —
/// ZooKeeper's follower drops its clients with its leader — and the client
/// fails over and commits through another server, in the same session.
#[test]
fn a_call_in_flight_ends_when_its_server_loses_the_leader() {
    sim(
        "a_call_in_flight_ends_when_its_server_loses_the_leader",
        0..4,
        || async {
            let (mut cluster, leader) = ensemble().await;
            let follower = cluster.followers()[0];
            let node = cluster.client_node(0);
            let (ready_tx, ready_rx) = oneshot::channel();
            let (cut_tx, cut_rx) = oneshot::channel::<()>();
            let all = cluster.client_addrs();
            let victim = node.spawn(async move {
                let (c, _ev) = connect_via(all, follower, 6000).await;
                c.create("/before", b"", Persistent).await.unwrap();
                ready_tx.send(()).unwrap();
                cut_rx.await.unwrap();
                let started = Instant::now();
                let first = c.create("/during", b"", Persistent).await;
                let took = started.elapsed();
                // The follower gives up after syncLimit ticks (1 s).
                assert!(
                    took < Duration::from_secs(3),
                    "the call took {took:?}: {first:?}"
                );
                assert_eq!(first, Err(ErrorCode::ConnectionLoss));
                // Failover, same session: the next write commits elsewhere.
                let again = retry(|| c.create("/after", b"", Persistent)).await;
                // NodeExists: an attempt whose answer was lost had applied.
                assert!(
                    matches!(&again, Ok(_) | Err(ErrorCode::NodeExists)),
                    "{again:?}"
                );
                assert!(
                    started.elapsed() < Duration::from_secs(6),
                    "failover took too long"
                );
                c.session_id()
            });
            ready_rx.await.unwrap();
            let others: Vec<Sid> = cluster
                .sids()
                .into_iter()
                .filter(|s| *s != follower)
                .collect();
            cluster.partition(&[vec![follower], others]);
            cut_tx.send(()).unwrap();
            let session = victim.await.unwrap();
            cluster.heal();
            sleep(Duration::from_secs(2)).await;
            let observer = cluster.client_node(1);
            observer
                .spawn(async move {
                    let (o, _eo) = connect_to(leader).await;
                    o.sync().await.unwrap();
                    let after = o.exists("/after", false).await.unwrap();
                    assert!(
                        after.is_some(),
                        "session {session:#x}: /after was acknowledged"
                    );
                })
                .await
                .unwrap();
        },
    );
}

// ----------------------------------------------------------- 7. leader change

/// Clients on the leader and on a follower keep their sessions and ephemerals
/// when the leader crashes.
#[test]
fn session_survives_a_leader_crash() {
    sim("session_survives_a_leader_crash", 0..3, || async {
        let (mut cluster, leader) = ensemble().await;
        let follower = cluster.followers()[0];
        let servers = cluster.client_addrs();
        let node = cluster.client_node(0);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (crashed_tx, crashed_rx) = oneshot::channel::<()>();
        let task = node.spawn(async move {
            let mut clients = Vec::new();
            for (name, sid) in [("on-leader", leader), ("on-follower", follower)] {
                let (c, events) = connect_via(servers.clone(), sid, 4000).await;
                let path = format!("/eph-{name}");
                c.create(&path, b"before", Ephemeral).await.unwrap();
                let session = c.session_id();
                clients.push((c, events, path, session));
            }
            ready_tx.send(()).unwrap();
            crashed_rx.await.unwrap();
            for (c, _, path, session) in &clients {
                let stat = retry(|| c.set_data(path, b"after", -1))
                    .await
                    .unwrap_or_else(|e| panic!("{path}: no write after the leader crash: {e:?}"));
                assert_eq!(stat.version, 1);
                assert_eq!(c.session_id(), *session, "{path}: a new session");
                assert_eq!(c.state(), ConnState::Connected);
            }
            // The new leader tracks the sessions: they outlive a few timeouts.
            sleep(Duration::from_secs(10)).await;
            for (c, events, path, session) in &mut clients {
                retry(|| c.sync()).await.unwrap();
                let (data, stat) = retry(|| c.get_data(path, false)).await.unwrap();
                assert_eq!(data, b"after");
                assert_eq!(stat.ephemeral_owner, *session, "{path}");
                // Its server went away (crashed, or stopped serving to
                // elect a new leader), so it moved; the session never expired.
                let states = states(events);
                assert!(!states.contains(&ConnState::Expired), "{path}: {states:?}");
                assert!(
                    states.contains(&ConnState::Disconnected),
                    "{path}: {states:?}"
                );
                assert_eq!(
                    states.last(),
                    Some(&ConnState::Connected),
                    "{path}: {states:?}"
                );
            }
            let owners: Vec<(String, u64)> =
                clients.iter().map(|(_, _, p, s)| (p.clone(), *s)).collect();
            for (c, _, path, _) in &clients {
                for (opath, osession) in &owners {
                    let stat = c.exists(opath, false).await.unwrap();
                    assert_eq!(
                        stat.map(|s| s.ephemeral_owner),
                        Some(*osession),
                        "{opath} from {path}"
                    );
                }
            }
        });
        ready_rx.await.unwrap();
        cluster.crash(leader);
        crashed_tx.send(()).unwrap();
        let new_leader = wait_leader(&cluster).await;
        assert_ne!(new_leader, leader);
        task.await.unwrap();
    });
}

// ------------------------------------------------- 8. never back in time

/// Raises the counter `/c` (1, 2, 3, ...) until `halt`; returns the last value.
async fn raise_counter(w: Client, halt: Arc<AtomicBool>) -> u64 {
    let created = retry(|| w.create("/c", b"0", Persistent)).await;
    assert!(
        matches!(created, Ok(_) | Err(ErrorCode::NodeExists)),
        "{created:?}"
    );
    let mut i = 0u64;
    while !halt.load(Ordering::Relaxed) {
        i += 1;
        // A retried set may apply twice; the values still only grow.
        let v = i.to_string();
        let _ = retry(|| w.set_data("/c", v.as_bytes(), -1)).await;
        sleep(Duration::from_millis(2)).await;
    }
    i
}

struct ReadStats {
    ok: u64,
    last_value: u64,
    epochs: Vec<u32>,
}

/// Reads `/c` until `halt`, asserting that no answer carries an older zxid,
/// nor an older value, than one seen before.
async fn read_counter(r: Client, who: &str, halt: Arc<AtomicBool>) -> ReadStats {
    let (mut seen, mut value, mut ok, mut epochs) = (Zxid::ZERO, 0u64, 0u64, Vec::new());
    while !halt.load(Ordering::Relaxed) {
        let exists = ClientOp::Read(ReadOp::Exists {
            path: "/c".into(),
            watch: false,
        });
        for op in [read("/c"), exists] {
            let (result, zxid): Answer = r.call_traced(op).await.answer;
            match result {
                Ok(res) => {
                    ok += 1;
                    assert!(zxid >= seen, "{who}: zxid {zxid} after {seen}");
                    seen = zxid;
                    if !epochs.contains(&zxid.epoch()) {
                        epochs.push(zxid.epoch());
                    }
                    if let OpResult::Data { data, .. } = res {
                        let v: u64 = String::from_utf8(data.unwrap_or_default())
                            .unwrap()
                            .parse()
                            .unwrap();
                        assert!(v >= value, "{who}: value {v} after {value}");
                        value = v;
                    }
                }
                Err(ErrorCode::ConnectionLoss) | Err(ErrorCode::NoNode) => {
                    sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{who}: {e:?}"),
            }
        }
    }
    assert_eq!(r.state(), ConnState::Connected, "{who}");
    ReadStats {
        ok,
        last_value: value,
        epochs,
    }
}

/// Readers on the leader and on a follower read a counter another client keeps
/// raising, while the servers they are connected to crash (a follower, then
/// the leader): they never read the past.
#[test]
fn reads_never_go_back_in_time_across_failover() {
    sim(
        "reads_never_go_back_in_time_across_failover",
        0..3,
        || async {
            let (mut cluster, leader) = ensemble().await;
            let follower = cluster.followers()[0];
            let servers = cluster.client_addrs();
            let stop = Arc::new(AtomicBool::new(false));

            let writer_node = cluster.client_node(0);
            let (all, halt) = (servers.clone(), stop.clone());
            let writer = writer_node.spawn(async move {
                let (w, _ew) = connect_via(all, follower, 4000).await;
                raise_counter(w, halt).await
            });
            let mut readers = Vec::new();
            for (n, sid) in [(1, leader), (2, follower)] {
                let node = cluster.client_node(n);
                let (all, halt) = (servers.clone(), stop.clone());
                readers.push(node.spawn(async move {
                    let (r, _er) = connect_via(all, sid, 4000).await;
                    read_counter(r, &format!("reader first on {sid}"), halt).await
                }));
            }

            sleep(Duration::from_secs(2)).await;
            cluster.crash(follower);
            sleep(Duration::from_secs(3)).await;
            cluster.restart(follower);
            sleep(Duration::from_secs(4)).await;
            cluster.crash(leader);
            sleep(Duration::from_secs(4)).await;
            cluster.restart(leader);
            sleep(Duration::from_secs(4)).await;
            stop.store(true, Ordering::Relaxed);

            let written = writer.await.unwrap();
            assert!(written > 100, "the writer made little progress: {written}");
            for r in readers {
                let st = r.await.unwrap();
                assert!(st.ok > 500, "only {} reads", st.ok);
                assert!(
                    st.last_value > written / 2,
                    "read {} of {written}",
                    st.last_value
                );
                // The reader lived through the leader change.
                assert!(st.epochs.len() >= 2, "epochs seen: {:?}", st.epochs);
            }
        },
    );
}

/// A client whose server crashes may only move to a server that has caught
/// up with what the client has seen. The reader may use two followers; just
/// before its own crashes, the other one is cut from the leader for a moment,
/// so it still serves, but behind what the reader has read.
#[test]
fn failover_to_a_lagging_server_never_reads_the_past() {
    sim(
        "failover_to_a_lagging_server_never_reads_the_past",
        0..3,
        || async {
            let (mut cluster, leader) = ensemble().await;
            let followers = cluster.followers();
            let (a, b) = (followers[0], followers[1]);
            let stop = Arc::new(AtomicBool::new(false));

            let writer_node = cluster.client_node(0);
            let halt = stop.clone();
            let writer = writer_node.spawn(async move {
                let (w, _ew) = connect_to(leader).await;
                raise_counter(w, halt).await
            });
            let reader_node = cluster.client_node(1);
            let halt = stop.clone();
            let reader = reader_node.spawn(async move {
                let (r, _er) = connect_via(vec![addr(a), addr(b)], a, 4000).await;
                read_counter(r, "reader", halt).await
            });

            // The reader starts on `a`; each round moves it to the other one.
            let (mut on, mut other) = (a, b);
            for _ in 0..4 {
                sleep(Duration::from_secs(2)).await;
                cluster.partition(&[vec![leader], vec![other]]);
                sleep(Duration::from_millis(300)).await;
                cluster.crash(on);
                sleep(Duration::from_millis(400)).await;
                cluster.heal();
                sleep(Duration::from_secs(1)).await;
                cluster.restart(on);
                std::mem::swap(&mut on, &mut other);
            }
            sleep(Duration::from_secs(3)).await;
            stop.store(true, Ordering::Relaxed);
            let written = writer.await.unwrap();
            let st = reader.await.unwrap();
            assert!(written > 100, "the writer made little progress: {written}");
            assert!(st.ok > 500, "only {} reads", st.ok);
            assert!(
                st.last_value > written / 2,
                "read {} of {written}",
                st.last_value
            );
        },
    );
}

// ------------------------------------------------------------------ 9. FIFO

/// Many requests in flight on one session are applied and answered in the
/// order they were issued.
#[test]
fn pipelined_requests_keep_fifo_order() {
    sim("pipelined_requests_keep_fifo_order", 0..2, || async {
        let (mut cluster, leader) = ensemble().await;
        let follower = cluster.followers()[0];
        let node = cluster.client_node(0);
        node.spawn(async move {
            let mut closed = Vec::new();
            for sid in [follower, leader] {
                let (c, _ev) = connect_to(sid).await;
                let root = format!("/fifo{sid}");
                let f = format!("{root}/f");
                c.create(&root, b"", Persistent).await.unwrap();
                c.create(&f, b"0", Persistent).await.unwrap();

                // Each set expects the version the one before it leaves, so
                // they can all succeed only if applied in issue order. Reads,
                // sequential creates and invalid writes are mixed in.
                #[derive(Debug)]
                enum Kind {
                    Set(i32),
                    Read(i32),
                    Seq(usize),
                    Bad,
                }
                let mut kinds = Vec::new();
                let mut ops = Vec::new();
                let (mut version, mut seq) = (0, 0);
                for i in 0..120 {
                    if i % 10 == 3 {
                        kinds.push(Kind::Read(version));
                        ops.push(read(&f));
                    } else if i % 10 == 6 {
                        kinds.push(Kind::Seq(seq));
                        seq += 1;
                        let op = create_op(&format!("{root}/n-"), b"", PersistentSequential);
                        ops.push(ClientOp::Write(op));
                    } else if i % 40 == 9 {
                        kinds.push(Kind::Bad);
                        ops.push(set(&format!("{root}//bad"), b"", -1));
                    } else {
                        kinds.push(Kind::Set(version));
                        ops.push(set(&f, format!("v{}", version + 1).as_bytes(), version));
                        version += 1;
                    }
                }
                let futs: Vec<BoxFut<'_, Answer>> = ops
                    .into_iter()
                    .map(|op| Box::pin(answer(&c, op)) as BoxFut<'_, Answer>)
                    .collect();
                let answers = join_in_order(futs).await;

                let mut last = Zxid::ZERO;
                let mut last_write = Zxid::ZERO;
                for (i, (kind, (result, zxid))) in kinds.iter().zip(answers).enumerate() {
                    let at = format!("server {sid}, request {i} {kind:?}");
                    assert!(zxid >= last, "{at}: zxid {zxid} before {last}");
                    last = zxid;
                    match kind {
                        Kind::Set(v) => {
                            let Ok(OpResult::SetData { stat }) = result else {
                                panic!("{at}: {result:?}")
                            };
                            assert_eq!(stat.version, v + 1, "{at}");
                            assert!(zxid > last_write, "{at}: writes out of order");
                            assert_eq!(stat.mzxid, zxid, "{at}");
                            last_write = zxid;
                        }
                        Kind::Read(v) => {
                            let Ok(OpResult::Data { data, stat }) = result else {
                                panic!("{at}: {result:?}")
                            };
                            // It sees exactly the writes issued before it.
                            assert_eq!(stat.version, *v, "{at}");
                            let want = if *v == 0 {
                                "0".to_string()
                            } else {
                                format!("v{v}")
                            };
                            assert_eq!(data.as_deref(), Some(want.as_bytes()), "{at}");
                            assert!(zxid >= last_write, "{at}");
                        }
                        Kind::Seq(n) => {
                            let Ok(OpResult::Created { path, .. }) = result else {
                                panic!("{at}: {result:?}")
                            };
                            assert_eq!(path, format!("{root}/n-{:010}", n + 1), "{at}");
                            assert!(zxid > last_write, "{at}: writes out of order");
                            last_write = zxid;
                        }
                        Kind::Bad => {
                            assert_eq!(result, Err(ErrorCode::BadArguments), "{at}");
                            // Answered in its turn, after the writes ahead of it.
                            assert!(zxid >= last_write, "{at}");
                        }
                    }
                }
                let (data, stat) = c.get_data(&f, false).await.unwrap();
                assert_eq!(data, format!("v{version}").as_bytes());
                assert_eq!(stat.version, version);

                // A close queued behind writes and reads comes after them all:
                // everything issued before it is applied and answered first.
                let mut futs: Vec<BoxFut<'_, Answer>> = Vec::new();
                for i in 0..12 {
                    let op = match i % 4 {
                        1 => read(&f),
                        3 => {
                            ClientOp::Write(create_op(&format!("{root}/last-{i}"), b"", Persistent))
                        }
                        _ => set(&f, format!("w{i}").as_bytes(), -1),
                    };
                    futs.push(Box::pin(answer(&c, op)));
                }
                futs.push(Box::pin(async {
                    let r = c.close().await;
                    (r.map(|_| OpResult::SessionClosed), Zxid::ZERO)
                }));
                let answers = join_in_order(futs).await;
                for (i, (result, _)) in answers.iter().enumerate() {
                    assert!(
                        result.is_ok(),
                        "server {sid}: request {i} before close: {result:?}"
                    );
                }
                closed.push((root.clone(), f.clone()));
            }
            // Another client sees all of it.
            let (o, _eo) = connect_to(leader).await;
            o.sync().await.unwrap();
            for (root, f) in closed {
                assert_eq!(o.get_data(&f, false).await.unwrap().0, b"w10", "{f}");
                let children = o.get_children(&root, false).await.unwrap();
                for i in [3, 7, 11] {
                    assert!(
                        children.contains(&format!("last-{i}")),
                        "{root}: {children:?}"
                    );
                }
            }
        })
        .await
        .unwrap();
    });
}

// ------------------------------------------------------------ ACLs

/// A digest ACL admits only its user, through every server; the identity
/// is sent again when the client fails over, so it keeps its rights.
#[test]
fn acls_admit_only_their_identities_across_failover() {
    use zkstorm::acl::{self, Acl};
    use zkstorm::jute::perms;
    sim(
        "acls_admit_only_their_identities_across_failover",
        0..2,
        || async {
            let (mut cluster, leader) = ensemble().await;
            let follower = cluster.followers()[0];
            let servers: Vec<SocketAddr> = [1, 2, 3].into_iter().map(addr).collect();
            let node = cluster.client_node(0);
            let (owner, stranger) = node
                .spawn(async move {
                    let (owner, _eo) = connect_via(servers, follower, 4000).await;
                    let (stranger, _es) = connect_to(leader).await;
                    assert_eq!(owner.add_auth("kerberos", b"x"), Err(ErrorCode::AuthFailed));
                    owner.add_auth("digest", b"alice:pw").unwrap();
                    let mine = [
                        Acl {
                            perms: perms::ALL,
                            id: acl::id("auth", ""),
                        },
                        Acl {
                            perms: perms::READ,
                            id: acl::id("world", "anyone"),
                        },
                    ];
                    owner
                        .create_with_acl("/acl", b"v", Persistent, &mine)
                        .await
                        .unwrap();
                    stranger.sync().await.unwrap();
                    assert_eq!(stranger.get_data("/acl", false).await.unwrap().0, b"v");
                    assert_eq!(
                        stranger.set_data("/acl", b"x", -1).await,
                        Err(ErrorCode::NoAuth)
                    );
                    let (got, stat) = owner.get_acl("/acl").await.unwrap();
                    let alice = acl::id("digest", &acl::digest_id("alice:pw"));
                    assert_eq!(got[0].id, alice, "auth became the owner's digest id");
                    assert_eq!(stat.aversion, 0);
                    let (shown, _) = stranger.get_acl("/acl").await.unwrap();
                    assert_eq!(shown[0].id.id, "alice:x", "no ADMIN: no hash");
                    assert_eq!(
                        owner.create_with_acl("/bad", b"", Persistent, &[]).await,
                        Err(ErrorCode::InvalidAcl)
                    );
                    (owner, stranger)
                })
                .await
                .unwrap();
            cluster.crash(follower);
            node.spawn(async move {
                // Failed over: the identity came along.
                // (A lost answer may have applied too: retried, it applies again.)
                let stat = retry(|| owner.set_data("/acl", b"y", -1)).await.unwrap();
                assert!(stat.version >= 1);
                let only_alice = [Acl {
                    perms: perms::ALL,
                    id: acl::id("auth", ""),
                }];
                assert_eq!(
                    owner.set_acl("/acl", &only_alice, 5).await,
                    Err(ErrorCode::BadVersion)
                );
                let stat = owner.set_acl("/acl", &only_alice, 0).await.unwrap();
                assert_eq!(stat.aversion, 1);
                stranger.sync().await.unwrap();
                assert_eq!(
                    stranger.get_data("/acl", false).await,
                    Err(ErrorCode::NoAuth)
                );
                assert!(stranger.exists("/acl", false).await.unwrap().is_some());
            })
            .await
            .unwrap();
        },
    );
}

/// An op's result with the zxid the server stamped it with.
async fn answer(c: &Client, op: ClientOp) -> Answer {
    c.call_traced(op).await.answer
}
