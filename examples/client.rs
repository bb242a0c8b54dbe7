//! A real client against a real ensemble: creates an ephemeral `/data`, reads
//! it back, watches it change, and closes the session (the seed documents'
//! example).
//!
//! ```sh
//! RUSTFLAGS= cargo run --target-dir target/real --example client -- 127.0.0.1:21811,127.0.0.1:21812
//! ```

#[cfg(madsim)]
fn main() {
    eprintln!("this example runs for real: build it without --cfg madsim");
    std::process::exit(2);
}

#[cfg(not(madsim))]
#[tokio::main(flavor = "current_thread")]
async fn main() {
    use zkstorm::client::{Client, ClientConfig, ClientEvent, Zk};
    use zkstorm::proto::CreateMode;

    let servers: Vec<std::net::SocketAddr> = std::env::args()
        .nth(1)
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    if servers.is_empty() {
        eprintln!("usage: client host:port[,host:port...]");
        std::process::exit(2);
    }
    let fail = |what: &str, e: zkstorm::proto::ErrorCode| -> ! {
        eprintln!("{what}: {e:?} ({})", e.code());
        std::process::exit(1);
    };
    let (zk, mut events) = match Client::connect(ClientConfig::new(servers)).await {
        Ok(c) => c,
        Err(e) => fail("connect", e),
    };
    println!("session {:#x}", zk.session_id());
    let path = zk
        .create("/data", b"hello", CreateMode::Ephemeral)
        .await
        .unwrap_or_else(|e| fail("create", e));
    let (data, stat) = zk
        .get_data(&path, true)
        .await
        .unwrap_or_else(|e| fail("get", e));
    println!(
        "{path} = {:?} (owner {:#x}, version {})",
        String::from_utf8_lossy(&data),
        stat.ephemeral_owner,
        stat.version
    );
    zk.set_data(&path, b"world", stat.version)
        .await
        .unwrap_or_else(|e| fail("set", e));
    while let Some(ev) = events.recv().await {
        if let ClientEvent::Watch(w) = ev {
            println!("watch: {:?} {}", w.event, w.path);
            break;
        }
    }
    let (data, _) = zk
        .get_data(&path, false)
        .await
        .unwrap_or_else(|e| fail("get", e));
    println!("{path} = {:?}", String::from_utf8_lossy(&data));
    zk.close().await.unwrap_or_else(|e| fail("close", e));
    println!("closed; /data is gone with the session");
}
