//! Client load: each client keeps a session, issues a random mix of
//! operations at a fixed rate over a small key space, and records every
//! invocation and completion in the history.

use crate::history::{Event, History};
use madsim::rand::{thread_rng, Rng};
use std::net::SocketAddr;
use std::time::Duration;
use zkstorm::client::{Client, ClientConfig, ClientEvent};
use zkstorm::proto::{CreateMode, ErrorCode, OpResult, ReadOp, WriteOp};
use zkstorm::server::wire::ClientOp;

#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    pub clients: usize,
    /// Operations per client per simulated second.
    pub rate: f64,
    pub keys: usize,
    pub value_bytes: usize,
    /// Relative weights: create, set, get, delete, sync.
    pub mix: [u32; 5],
    pub session_timeout_ms: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            clients: 3,
            rate: 20.0,
            keys: 8,
            value_bytes: 16,
            mix: [3, 4, 2, 1, 1],
            session_timeout_ms: 3000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ClientStats {
    pub ok: u64,
    pub failed: u64,
}

fn pick_op(cfg: &WorkloadConfig, n: usize, seq: u64) -> ClientOp {
    let mut rng = thread_rng();
    let key = format!("/k{}", rng.gen_range(0..cfg.keys));
    let total: u32 = cfg.mix.iter().sum();
    let mut roll = rng.gen_range(0..total.max(1));
    let mut kind = 0;
    for (i, w) in cfg.mix.iter().enumerate() {
        if roll < *w {
            kind = i;
            break;
        }
        roll -= w;
    }
    let value = format!("c{n}-{seq}")
        .into_bytes()
        .into_iter()
        .chain(std::iter::repeat(b'.'))
        .take(cfg.value_bytes.max(8))
        .collect::<Vec<u8>>();
    match kind {
        0 => ClientOp::Write(WriteOp::Create {
            path: key,
            data: value,
            mode: CreateMode::Persistent,
        }),
        1 => ClientOp::Write(WriteOp::SetData {
            path: key,
            data: value,
            version: -1,
        }),
        2 => ClientOp::Read(ReadOp::GetData {
            path: key,
            watch: false,
        }),
        3 => ClientOp::Write(WriteOp::Delete {
            path: key,
            version: -1,
        }),
        _ => ClientOp::Sync,
    }
}

fn outcome_name(r: &Result<OpResult, ErrorCode>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// Run one client until `until` (simulated time since the runtime started).
pub async fn run_client(
    n: usize,
    servers: Vec<SocketAddr>,
    cfg: WorkloadConfig,
    history: History,
    until: tokio::time::Instant,
) -> ClientStats {
    let mut stats = ClientStats::default();
    let mut op_id = 0u64;
    let period = Duration::from_secs_f64(1.0 / cfg.rate.max(0.001));
    while tokio::time::Instant::now() < until {
        let mut ccfg = ClientConfig::new(servers.clone());
        ccfg.session_timeout_ms = cfg.session_timeout_ms;
        ccfg.seed = thread_rng().gen();
        let connect = tokio::time::timeout(Duration::from_secs(5), Client::connect(ccfg)).await;
        let Ok(Ok((client, mut events))) = connect else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let session = client.session_id();
        history.record(Event::ClientState {
            client: n,
            state: format!("connected session={session:#x}"),
        });
        while tokio::time::Instant::now() < until {
            while let Ok(ev) = events.try_recv() {
                record_event(&history, n, ev);
            }
            op_id += 1;
            let op = pick_op(&cfg, n, op_id);
            let write = !matches!(op, ClientOp::Read(_));
            history.record(Event::Invoke {
                client: n,
                op: op_id,
                session,
                desc: format!("{op:?}"),
            });
            let (result, zxid) = client.call(op).await;
            history.record(Event::Complete {
                client: n,
                op: op_id,
                session,
                outcome: outcome_name(&result),
                zxid: zxid.0,
                write,
            });
            match result {
                Ok(_) => stats.ok += 1,
                Err(
                    ErrorCode::NoNode
                    | ErrorCode::NodeExists
                    | ErrorCode::BadVersion
                    | ErrorCode::NotEmpty,
                ) => stats.ok += 1,
                Err(ErrorCode::SessionExpired) => {
                    stats.failed += 1;
                    break;
                }
                Err(_) => stats.failed += 1,
            }
            tokio::time::sleep(period).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
        while let Ok(ev) = events.try_recv() {
            record_event(&history, n, ev);
        }
    }
    stats
}

fn record_event(history: &History, n: usize, ev: ClientEvent) {
    match ev {
        ClientEvent::Watch(w) => history.record(Event::Watch {
            client: n,
            path: w.path,
            event: format!("{:?}", w.event),
            zxid: w.zxid.0,
        }),
        ClientEvent::State(s) => history.record(Event::ClientState {
            client: n,
            state: format!("{s:?}"),
        }),
    }
}
