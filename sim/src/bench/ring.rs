//! The ceiling: a bare madsim message loop, measured in the same process.

use crate::runner::run_seed;
use madsim::net::NetSim;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// × real time for a run needing `msgs_per_sim_sec` payloads per simulated
/// second, if each cost what one costs the bare loop (`bare` payloads per
/// wall second; 0 when the bare loop was not measured).
pub fn ceiling(bare: f64, msgs_per_sim_sec: f64) -> f64 {
    if bare > 0.0 {
        bare / msgs_per_sim_sec.max(1e-9)
    } else {
        0.0
    }
}

/// Network payloads delivered per wall second by 5 nodes passing tokens
/// around a ring over simulated TCP, one flush per message.
pub fn bare_loop(msgs_per_node: u64) -> f64 {
    let started = Instant::now();
    let msgs = run_seed(0, Duration::from_secs(600), move || async move {
        let handle = madsim::runtime::Handle::current();
        let addr =
            |i: usize| -> SocketAddr { format!("10.9.0.{}:7000", i + 1).parse().expect("addr") };
        let n = 5;
        let mut tasks = Vec::new();
        for i in 0..n {
            let node = handle
                .create_node()
                .name(format!("ring{i}"))
                .ip(addr(i).ip())
                .build();
            let (me, next) = (addr(i), addr((i + 1) % n));
            tasks.push(node.spawn(async move {
                let listener = tokio::net::TcpListener::bind(me).await.expect("bind");
                tokio::time::sleep(Duration::from_millis(10)).await;
                let mut out = tokio::net::TcpStream::connect(next).await.expect("connect");
                let (mut inp, _) = listener.accept().await.expect("accept");
                if i == 0 {
                    // Many tokens in flight, so the ring is never idle.
                    for _ in 0..64 {
                        out.write_all(&[1u8; 8]).await.expect("write");
                        out.flush().await.expect("flush");
                    }
                }
                let mut buf = [0u8; 8];
                for _ in 0..msgs_per_node {
                    if inp.read_exact(&mut buf).await.is_err() {
                        break;
                    }
                    if out.write_all(&buf).await.is_err() || out.flush().await.is_err() {
                        break;
                    }
                }
            }));
        }
        let _ = tasks.remove(0).await;
        NetSim::current().stat().msg_count
    })
    .unwrap_or(0);
    msgs as f64 / started.elapsed().as_secs_f64()
}
