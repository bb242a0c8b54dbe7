//! One real zkstorm server on real sockets and a real disk.
//!
//! ```sh
//! RUSTFLAGS= cargo run --target-dir target/real --example server -- \
//!     --id 1 --peers 1=127.0.0.1:28881,2=127.0.0.1:28882,3=127.0.0.1:28883 \
//!     --client 127.0.0.1:21811 --data /tmp/zk1
//! ```

#[cfg(madsim)]
fn main() {
    eprintln!("this example runs for real: build it without --cfg madsim (RUSTFLAGS= cargo run --target-dir target/real --example server -- ...)");
    std::process::exit(2);
}

#[cfg(not(madsim))]
#[tokio::main(flavor = "current_thread")]
async fn main() {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use zkstorm::server::{run, LogObserver, ServerConfig};
    use zkstorm::store::FileDisk;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| -> String {
        let i = args
            .iter()
            .position(|a| a == name)
            .unwrap_or_else(|| usage(&format!("missing {name}")));
        args.get(i + 1)
            .cloned()
            .unwrap_or_else(|| usage(&format!("{name} needs a value")))
    };
    let id: u64 = arg("--id")
        .parse()
        .unwrap_or_else(|_| usage("--id: not a number"));
    let mut peers = BTreeMap::new();
    for part in arg("--peers").split(',') {
        let (sid, addr) = part
            .split_once('=')
            .unwrap_or_else(|| usage("--peers: expected id=host:port,..."));
        let sid: u64 = sid.parse().unwrap_or_else(|_| usage("--peers: bad id"));
        let addr = addr
            .parse()
            .unwrap_or_else(|_| usage("--peers: bad address"));
        peers.insert(sid, addr);
    }
    if !peers.contains_key(&id) {
        usage("--peers must include this server's --id");
    }
    let client = arg("--client")
        .parse()
        .unwrap_or_else(|_| usage("--client: bad address"));
    let disk = FileDisk::open(arg("--data")).unwrap_or_else(|e| usage(&format!("--data: {e}")));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cfg = ServerConfig::new(id, peers, client);
    if let Err(e) = run(cfg, Arc::new(disk), Arc::new(LogObserver)).await {
        eprintln!("server {id} stopped: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(madsim))]
fn usage(why: &str) -> ! {
    eprintln!("error: {why}\nusage: server --id N --peers 1=host:port,2=... --client host:port --data DIR");
    std::process::exit(2);
}
