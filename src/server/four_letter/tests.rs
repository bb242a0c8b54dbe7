use super::*;

fn all() -> BTreeSet<String> {
    WORDS.iter().map(|w| w.to_string()).collect()
}

fn leader() -> Snapshot {
    Snapshot {
        mode: Some(Mode::Leader),
        zxid: 0x1_0000_0003,
        node_count: 5,
        conns: vec![
            ConnInfo {
                addr: "127.0.0.1:5000".into(),
                received: 3,
                sent: 4,
                queued: 0,
                session: Some((0x1_0000_0000_0001, 10_000)),
            },
            ConnInfo {
                addr: "127.0.0.1:5001".into(),
                received: 1,
                session: Some((0x1_0000_0000_0002, 6_000)),
                ..ConnInfo::default()
            },
        ],
        received: 10,
        sent: 11,
        latency: (0, 11, 6, 7),
        followers: 2,
        synced_followers: 1,
        pending_syncs: 1,
        sessions: vec![(0x1_0000_0000_0001, 10_000), (0x1_0000_0000_0002, 6_000)],
        ephemerals: vec![(0x1_0000_0000_0001, vec!["/e".into(), "/e2".into()])],
        watches: vec![
            (0x1_0000_0000_0001, vec!["/n".into(), "/nothere".into()]),
            (0x1_0000_0000_0002, vec!["/n".into()]),
        ],
        watch_count: 4,
        data_size: 54,
        digest: 77,
        dir_sizes: (457, 900),
        ..Snapshot::default()
    }
}

fn about() -> About {
    About {
        server_id: 2,
        client_port: 2181,
        data_dir: "/var/lib/zk".into(),
        data_log_dir: "/var/lib/zk".into(),
        tick_ms: 2000,
        max_client_cnxns: 60,
        session_timeout_ms: (4000, 40000),
        quorum: Some((
            10,
            5,
            3888,
            2888,
            vec!["server.1=h1:2888:3888:participant".into()],
        )),
        env: vec![("host.name".into(), "h2".into())],
    }
}

fn ask(word: &str, s: &Snapshot) -> String {
    answer(word, &all(), s, &about())
}

#[test]
fn words_are_recognised_from_the_first_four_bytes() {
    assert_eq!(word(*b"ruok"), Some("ruok"));
    assert_eq!(word(*b"wchp"), Some("wchp"));
    assert_eq!(word([0, 0, 0, 44]), None, "a frame's length prefix");
    assert_eq!(word(*b"kill"), None);
}

/// kazoo's server_version() reads `zookeeper.version=` from envi and takes
/// its leading digits; monitoring reads zk_version from mntr.
#[test]
fn the_version_reads_as_zookeeper_3_8() {
    let envi = ask("envi", &leader());
    assert!(
        envi.starts_with("Environment:\nzookeeper.version=3.8.0-zkstorm-"),
        "{envi}"
    );
    assert!(envi.contains("\nhost.name=h2\n"), "{envi}");
    assert!(ask("srvr", &leader()).starts_with("Zookeeper version: 3.8.0-zkstorm-"));
    assert!(ask("mntr", &leader()).starts_with("zk_version\t3.8.0-zkstorm-"));
    // envi answers while the server is not serving, as ZooKeeper's does.
    assert!(ask("envi", &Snapshot::default()).contains("zookeeper.version=3.8.0"));
}

#[test]
fn srvr_and_stat_read_like_zookeepers() {
    let s = leader();
    assert_eq!(ask("ruok", &s), "imok");
    let srvr = ask("srvr", &s);
    assert!(srvr.contains("Latency min/avg/max: 0/1.8333/7\n"), "{srvr}");
    assert!(srvr.contains("Connections: 2\n"), "{srvr}");
    assert!(
        srvr.contains("Zxid: 0x100000003\nMode: leader\nNode count: 5\n"),
        "{srvr}"
    );
    let stat = ask("stat", &s);
    assert!(
        stat.contains(
            "Clients:\n /127.0.0.1:5000[1](queued=0,recved=3,sent=4)\n \
             /127.0.0.1:5001[1](queued=0,recved=1,sent=0)\n\nLatency"
        ),
        "{stat}"
    );
}

#[test]
fn mntr_reports_live_figures() {
    let mntr = ask("mntr", &leader());
    for line in [
        "zk_server_state\tleader",
        "zk_avg_latency\t1.8333",
        "zk_followers\t2",
        "zk_synced_followers\t1",
        "zk_pending_syncs\t1",
        "zk_watch_count\t4",
        "zk_ephemerals_count\t2",
        "zk_approximate_data_size\t54",
        "zk_global_sessions\t2",
    ] {
        assert!(mntr.contains(&format!("\n{line}\n")), "{line} in {mntr}");
    }
    let follower = Snapshot {
        mode: Some(Mode::Follower),
        ..leader()
    };
    assert!(!ask("mntr", &follower).contains("zk_followers"));
}

#[test]
fn watches_by_session_by_path_and_in_sum() {
    let s = leader();
    assert_eq!(
        ask("wchs", &s),
        // Data watches only, as ZooKeeper's wchs counts (mntr counts all).
        "2 connections watching 2 paths\nTotal watches:3\n"
    );
    assert_eq!(
        ask("wchc", &s),
        "0x1000000000001\n\t/n\n\t/nothere\n0x1000000000002\n\t/n\n\n"
    );
    assert_eq!(
        ask("wchp", &s),
        "/n\n\t0x1000000000001\n\t0x1000000000002\n/nothere\n\t0x1000000000001\n\n"
    );
}

#[test]
fn cons_dump_conf_dirs_and_hash_show_server_state() {
    let s = leader();
    let cons = ask("cons", &s);
    assert!(
        cons.starts_with(
            " /127.0.0.1:5000[1](queued=0,recved=3,sent=4,sid=0x1000000000001,to=10000)\n"
        ),
        "{cons}"
    );
    let dump = ask("dump", &s);
    assert!(
        dump.contains("Sessions with Ephemerals (1):\n0x1000000000001:\n\t/e\n\t/e2\n"),
        "{dump}"
    );
    assert!(
        dump.contains("ip: /127.0.0.1:5001 sessionId: 0x1000000000002"),
        "{dump}"
    );
    let conf = ask("conf", &s);
    assert!(
        conf.starts_with(
            "clientPort=2181\nsecureClientPort=-1\ndataDir=/var/lib/zk\ndataDirSize=457\n"
        ),
        "{conf}"
    );
    assert!(
        conf.contains("serverId=2\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\n"),
        "{conf}"
    );
    assert!(
        conf.ends_with("membership: \nserver.1=h1:2888:3888:participant\nversion=0\n"),
        "{conf}"
    );
    assert_eq!(ask("dirs", &s), "datadir_size: 457\nlogdir_size: 900\n");
    assert_eq!(ask("hash", &s), "100000003: 77\n");
    assert_eq!(ask("isro", &s), "rw");
}

#[test]
fn the_whitelist_and_a_server_not_serving_answer_as_zookeeper_does() {
    let only_srvr: BTreeSet<String> = ["srvr".to_string()].into();
    assert_eq!(
        answer("mntr", &only_srvr, &leader(), &about()),
        "mntr is not executed because it is not in the whitelist.\n"
    );
    let down = Snapshot::default();
    assert_eq!(ask("ruok", &down), "imok");
    assert_eq!(ask("isro", &down), "null");
    for w in ["srvr", "cons", "wchs", "dump", "conf", "mntr"] {
        assert_eq!(ask(w, &down), NOT_SERVING, "{w}");
    }
    assert_eq!(resets("srst"), Some(Reset::Server));
    assert_eq!(set_trace_mask(&all(), 42i64.to_be_bytes()), "42");
    assert_eq!(
        ask("stmk", &leader()),
        "",
        "no mask given: ZooKeeper answers nothing"
    );
    assert_eq!(ask("crst", &leader()), "Connection stats reset.\n");
}
