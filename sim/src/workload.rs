//! Client load: each client keeps a session, issues a random mix of
//! operations at a fixed rate over a small key space, and records every
//! invocation and completion in the history. Keys are `/k<i>` (persistent
//! create, set, delete, get) and `/e<i>` (ephemeral create, get); a sync is
//! followed by a read; some reads leave watches; sessions are closed and
//! opened anew every `session_ops` ops.

use crate::history::{Call, ClientStatus, Event, History, Outcome, Ret};
use rand::rngs::StdRng;
use rand::Rng;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use zkstorm::client::{Client, ClientConfig, ClientEvent};
use zkstorm::proto::{CreateMode, ErrorCode, ReadOp, WriteOp};
use zkstorm::server::wire::ClientOp;
use zkstorm::types::SessionId;

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
    /// Relative weight (beside `mix`) of ephemeral work: create an ephemeral
    /// `/e<i>` or read one. Ephemerals are only ever removed by their
    /// session's end, which `client.sessions` checks.
    pub ephemeral: u32,
    /// Percent of reads that leave a watch (judged by `client.watches`).
    pub watch_percent: u32,
    /// After a sync, read a key (sync + read is what `client.linearizable`
    /// checks of reads).
    pub read_after_sync: bool,
    /// Close the session and open a new one after this many ops (0: never),
    /// so session ends and their ephemerals' removal happen in every run.
    pub session_ops: u64,
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
            ephemeral: 1,
            watch_percent: 30,
            read_after_sync: true,
            session_ops: 150,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ClientStats {
    pub ok: u64,
    pub failed: u64,
}

fn pick_op(
    rng: &mut StdRng,
    cfg: &WorkloadConfig,
    n: usize,
    seq: u64,
    after_sync: bool,
) -> ClientOp {
    let keys = cfg.keys.max(1);
    let key = format!("/k{}", rng.gen_range(0..keys));
    let watch = rng.gen_range(0..100) < cfg.watch_percent;
    if after_sync && cfg.read_after_sync {
        let path = if cfg.ephemeral > 0 && rng.gen_range(0..4) == 0 {
            format!("/e{}", rng.gen_range(0..keys))
        } else {
            key
        };
        return ClientOp::Read(ReadOp::GetData { path, watch });
    }
    let total: u32 = cfg.mix.iter().sum::<u32>() + cfg.ephemeral;
    let mut roll = rng.gen_range(0..total.max(1));
    let mut kind = 0;
    for (i, w) in cfg.mix.iter().chain([&cfg.ephemeral]).enumerate() {
        if roll < *w {
            kind = i;
            break;
        }
        roll -= w;
    }
    // The id is never cut: values stay unique whatever `value_bytes` says.
    let id = format!("c{n}-{seq}");
    let len = cfg.value_bytes.max(id.len());
    let value = id
        .into_bytes()
        .into_iter()
        .chain(std::iter::repeat(b'.'))
        .take(len)
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
        2 => ClientOp::Read(ReadOp::GetData { path: key, watch }),
        3 => ClientOp::Write(WriteOp::Delete {
            path: key,
            version: -1,
        }),
        4 => ClientOp::Sync,
        _ => {
            let path = format!("/e{}", rng.gen_range(0..keys));
            if rng.gen_bool(0.5) {
                ClientOp::Write(WriteOp::Create {
                    path,
                    data: value,
                    mode: CreateMode::Ephemeral,
                })
            } else {
                ClientOp::Read(ReadOp::GetData { path, watch })
            }
        }
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
    let mut rng = crate::streams::stream("workload", n as u64);
    let mut op_id = 0u64;
    let period = Duration::from_secs_f64(1.0 / cfg.rate.max(0.001));
    while tokio::time::Instant::now() < until {
        let mut ccfg = ClientConfig::new(servers.clone());
        ccfg.session_timeout_ms = cfg.session_timeout_ms;
        ccfg.seed = rng.gen();
        let connect = tokio::time::timeout(Duration::from_secs(5), Client::connect(ccfg)).await;
        let (client, events) = match connect {
            Ok(Ok(c)) => c,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => format!("{e:?}"),
                    _ => "timed out".into(),
                };
                history.record(Event::ClientState {
                    client: n,
                    session: 0,
                    state: ClientStatus::ConnectFailed { why },
                });
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let session = client.session_id();
        history.record(Event::ClientState {
            client: n,
            session,
            state: ClientStatus::SessionStarted,
        });
        let mut events = EventLog {
            rx: events,
            taken: 0,
            history: &history,
            client: n,
            session,
        };
        let mut after_sync = false;
        let mut session_ops = 0u64;
        while tokio::time::Instant::now() < until {
            if cfg.session_ops > 0 && session_ops >= cfg.session_ops {
                break;
            }
            session_ops += 1;
            events.record(u64::MAX);
            op_id += 1;
            let op = pick_op(&mut rng, &cfg, n, op_id, after_sync);
            after_sync = matches!(op, ClientOp::Sync);
            let write = !matches!(op, ClientOp::Read(_));
            history.record(Event::Invoke {
                client: n,
                op: op_id,
                session,
                call: Call::of(&op),
            });
            let traced = client.call_traced(op).await;
            let (result, zxid) = traced.answer;
            // Events that arrived before the answer go before it.
            events.record(traced.events_before);
            history.record(Event::Complete {
                client: n,
                op: op_id,
                session,
                outcome: Outcome::of(&result),
                zxid: zxid.0,
                write,
                ret: Ret::of(&result),
                xid: traced.xid,
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
        let closed = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
        events.record(u64::MAX);
        let error = match closed {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("{e:?}")),
            Err(_) => Some("timed out".to_string()),
        };
        let state = ClientStatus::CloseAnswered { error };
        history.record(Event::ClientState {
            client: n,
            session,
            state,
        });
    }
    stats
}

/// A client's events channel, recorded in the order the client received
/// events and answers (see `Traced::events_before`).
struct EventLog<'a> {
    rx: UnboundedReceiver<ClientEvent>,
    /// Events taken off the channel so far.
    taken: u64,
    history: &'a History,
    client: usize,
    session: SessionId,
}

impl EventLog<'_> {
    /// Record the events that arrived before the `upto`-th (all there are
    /// for `u64::MAX`).
    fn record(&mut self, upto: u64) {
        while self.taken < upto {
            let Ok(ev) = self.rx.try_recv() else { return };
            self.taken += 1;
            let (client, session) = (self.client, self.session);
            self.history.record(match ev {
                ClientEvent::Watch(w) => Event::Watch {
                    client,
                    session,
                    path: w.path,
                    event: w.event,
                    zxid: w.zxid.0,
                },
                ClientEvent::State(s) => Event::ClientState {
                    client,
                    session,
                    state: ClientStatus::of(s),
                },
            });
        }
    }
}
