//! Client load: each client keeps a session and starts an operation every
//! 1/rate simulated seconds over a small key space, up to `pipeline` in
//! flight (an open-loop client, so FIFO order per session is exercised),
//! recording every invocation and completion in the history. Keys are `/k<i>`
//! (create, set and delete, conditional on the version last seen some of the
//! time, a multi that checks a version and sets, get) and `/e<i>` (ephemeral
//! create, get); sequential children are created under `/q` and listed with
//! child watches; a sync is followed by a read; some reads leave watches;
//! sessions are closed and opened anew every `session_ops` ops.
use crate::history::{Call, ClientStatus, Event, History, Outcome, Ret};
use crate::recorder::EventLog;
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use zkstorm::client::{Client, ClientConfig, ClientEvent, Traced};
use zkstorm::proto::{CreateMode, ErrorCode, ReadOp, WriteOp};
use zkstorm::server::wire::ClientOp;
use zkstorm::timer::Deadline;
use zkstorm::types::SessionId;

/// The operations of a workload mix, in the order of `WorkloadConfig::mix`.
pub const MIX_KEYS: [&str; 8] = [
    "create",
    "set",
    "get",
    "delete",
    "sync",
    "multi",
    "sequential",
    "children",
];

/// Where sequential znodes are created (and child watches set).
pub const QUEUE: &str = "/q";

#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    pub clients: usize,
    /// Operations each client starts per simulated second, answered or not
    /// (up to `pipeline` in flight).
    pub rate: f64,
    /// Requests a client keeps in flight at most (1: wait for each answer).
    pub pipeline: usize,
    pub keys: usize,
    pub value_bytes: usize,
    /// Relative weights, in `MIX_KEYS` order: create, set, get, delete, sync,
    /// multi (check a key's version and set it, atomically), sequential
    /// (create a sequential child of `/q`), children (list `/q`).
    pub mix: [u32; 8],
    /// Percent of sets, deletes and multis that expect the version this
    /// client last saw of the key (the rest match any version).
    pub conditional: u32,
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
            pipeline: 1,
            keys: 8,
            value_bytes: 16,
            mix: [3, 4, 2, 1, 1, 1, 1, 1],
            conditional: 30,
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

/// What a client knows of the tree, to make its requests meaningful.
#[derive(Default)]
struct Known {
    /// The version this client last saw of each key.
    versions: std::collections::HashMap<String, i32>,
    /// `/q` exists (sequential creates need their parent).
    queue: bool,
}

impl Known {
    /// Learn from an answer to `call`: as the history records it, and
    /// whether it says the node is gone (NoNode, or deleted).
    fn learn(&mut self, call: &Call, ret: &Ret, outcome: Outcome, gone: bool) {
        let Some(path) = call.path() else { return };
        match ret {
            Ret::Node { version, .. } | Ret::Stat { version, .. } | Ret::Named { version, .. } => {
                self.versions.insert(path.to_string(), *version);
            }
            _ if gone => {
                self.versions.remove(path);
            }
            _ => {}
        }
        if path == QUEUE && (outcome.is_ok() || outcome.is(ErrorCode::NodeExists)) {
            self.queue = true;
        }
    }

    /// The version to expect of `path`: the last seen, `conditional` percent
    /// of the time; otherwise any.
    fn expect(&self, rng: &mut StdRng, cfg: &WorkloadConfig, path: &str) -> i32 {
        match self.versions.get(path) {
            Some(v) if rng.gen_range(0..100) < cfg.conditional => *v,
            _ => -1,
        }
    }
}

/// The value of op `seq` of client `n`: its id, padded to `value_bytes`.
fn value(cfg: &WorkloadConfig, n: usize, seq: u64) -> Vec<u8> {
    // The id is never cut: values stay unique whatever `value_bytes` says.
    let id = format!("c{n}-{seq}");
    let len = cfg.value_bytes.max(id.len());
    id.into_bytes()
        .into_iter()
        .chain(std::iter::repeat(b'.'))
        .take(len)
        .collect()
}

/// Index into `weights` drawn by weight.
fn weighted(rng: &mut StdRng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut roll = rng.gen_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if roll < *w {
            return i;
        }
        roll -= w;
    }
    0
}

fn pick_op(
    rng: &mut StdRng,
    cfg: &WorkloadConfig,
    known: &Known,
    (n, seq): (usize, u64),
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
    let mut weights = cfg.mix.to_vec();
    weights.push(cfg.ephemeral);
    let data = Some(value(cfg, n, seq));
    let write = |w| ClientOp::Write(w);
    match weighted(rng, &weights) {
        0 => write(WriteOp::Create {
            path: key,
            data,
            mode: CreateMode::Persistent,
            acl: None,
        }),
        1 => write(WriteOp::SetData {
            version: known.expect(rng, cfg, &key),
            path: key,
            data,
        }),
        2 => ClientOp::Read(ReadOp::GetData { path: key, watch }),
        3 => write(WriteOp::Delete {
            version: known.expect(rng, cfg, &key),
            path: key,
        }),
        4 => ClientOp::Sync,
        5 => {
            let version = known.expect(rng, cfg, &key);
            write(WriteOp::Multi(vec![
                WriteOp::Check {
                    path: key.clone(),
                    version,
                },
                WriteOp::SetData {
                    path: key,
                    data,
                    version: -1,
                },
            ]))
        }
        6 if !known.queue => write(WriteOp::Create {
            path: QUEUE.into(),
            data,
            mode: CreateMode::Persistent,
            acl: None,
        }),
        6 => write(WriteOp::Create {
            path: format!("{QUEUE}/s-"),
            data,
            mode: if rng.gen_bool(0.3) {
                CreateMode::EphemeralSequential
            } else {
                CreateMode::PersistentSequential
            },
            acl: None,
        }),
        7 => ClientOp::Read(ReadOp::GetChildren {
            path: QUEUE.into(),
            watch,
        }),
        _ => {
            let path = format!("/e{}", rng.gen_range(0..keys));
            if rng.gen_bool(0.5) {
                write(WriteOp::Create {
                    path,
                    data,
                    mode: CreateMode::Ephemeral,
                    acl: None,
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
    let mut c = ClientRun {
        n,
        cfg,
        history,
        until,
        rng: crate::streams::stream("workload", n as u64),
        op_id: 0,
        stats: ClientStats::default(),
        known: Known::default(),
    };
    while tokio::time::Instant::now() < until {
        let mut ccfg = ClientConfig::new(servers.clone());
        ccfg.session_timeout_ms = c.cfg.session_timeout_ms;
        ccfg.seed = c.rng.gen();
        let connect = tokio::time::timeout(Duration::from_secs(5), Client::connect(ccfg)).await;
        match connect {
            Ok(Ok((client, events))) => c.session(client, events).await,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => format!("{e:?}"),
                    _ => "timed out".into(),
                };
                c.history.record(Event::ClientState {
                    client: n,
                    session: 0,
                    state: ClientStatus::ConnectFailed { why },
                    timeout_ms: None,
                });
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    c.stats
}

/// A request in flight.
struct InFlight {
    op: u64,
    call: Call,
    write: bool,
    answer: std::pin::Pin<Box<dyn std::future::Future<Output = Traced> + Send>>,
}

/// One client's run: its draws, its op ids and what it has learned.
struct ClientRun {
    n: usize,
    cfg: WorkloadConfig,
    history: History,
    until: tokio::time::Instant,
    rng: StdRng,
    op_id: u64,
    stats: ClientStats,
    known: Known,
}

impl ClientRun {
    /// One session: start an op every 1/rate (at most `pipeline` in flight),
    /// record answers as they come (in order: a session answers FIFO), then
    /// close it.
    async fn session(&mut self, client: Client, events: UnboundedReceiver<ClientEvent>) {
        let session = client.session_id();
        self.history.record(Event::ClientState {
            client: self.n,
            session,
            state: ClientStatus::SessionStarted,
            timeout_ms: Some(client.session_timeout_ms()),
        });
        let mut events = EventLog::new(events, self.history.clone(), self.n, session);
        let period = Duration::from_secs_f64(1.0 / self.cfg.rate.max(0.001));
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        let (mut after_sync, mut issued, mut ended) = (false, 0u64, false);
        let mut next = tokio::time::Instant::now();
        // One timer per pacing instant, however often answers wake us.
        let mut pace = Deadline::at(next);
        loop {
            // Answers already in go first, so events are placed right.
            while let Some(t) = inflight.front_mut().and_then(|f| ready_now(&mut f.answer)) {
                let f = inflight.pop_front().expect("front");
                ended |= self.complete(&mut events, session, f, t);
            }
            let now = tokio::time::Instant::now();
            let open = !ended
                && now < self.until
                && (self.cfg.session_ops == 0 || issued < self.cfg.session_ops);
            if !open && inflight.is_empty() {
                break;
            }
            let room = open && inflight.len() < self.cfg.pipeline.max(1);
            if room && now >= next {
                events.record(u64::MAX);
                inflight.push_back(self.issue(&client, session, after_sync));
                after_sync = matches!(inflight.back().map(|f| &f.call), Some(Call::Sync));
                issued += 1;
                // Paced from the schedule, not from answers; no burst after a stall.
                next = (next + period).max(now);
                continue;
            }
            pace.reset(next);
            match inflight.front_mut() {
                None => (&mut pace).await,
                Some(f) if room => {
                    // `biased`: tokio's random pick would differ between
                    // runs of a seed in one process (see server::run).
                    tokio::select! {
                        biased;
                        t = &mut f.answer => {
                            let f = inflight.pop_front().expect("front");
                            ended |= self.complete(&mut events, session, f, t);
                        }
                        _ = &mut pace => {}
                    }
                }
                Some(f) => {
                    let t = (&mut f.answer).await;
                    let f = inflight.pop_front().expect("front");
                    ended |= self.complete(&mut events, session, f, t);
                }
            }
        }
        events.close(&client).await;
    }

    fn issue(&mut self, client: &Client, session: SessionId, after_sync: bool) -> InFlight {
        self.op_id += 1;
        let op = pick_op(
            &mut self.rng,
            &self.cfg,
            &self.known,
            (self.n, self.op_id),
            after_sync,
        );
        let call = Call::of(&op);
        let write = !matches!(op, ClientOp::Read(_));
        self.history.record(Event::Invoke {
            client: self.n,
            op: self.op_id,
            session,
            call: call.clone(),
        });
        InFlight {
            op: self.op_id,
            call,
            write,
            answer: Box::pin(client.submit(op)),
        }
    }

    /// Record an answer; true if it ends the session.
    fn complete(
        &mut self,
        events: &mut EventLog,
        session: SessionId,
        f: InFlight,
        traced: Traced,
    ) -> bool {
        let (result, zxid) = traced.answer;
        // Events that arrived before the answer go before it.
        events.record(traced.events_before);
        let outcome = Outcome::of(&result);
        let gone = matches!(
            result,
            Err(ErrorCode::NoNode) | Ok(zkstorm::proto::OpResult::Deleted)
        );
        // The answer moves into the history (a children list is not copied).
        let ret = Ret::answer(&f.call, result);
        self.known.learn(&f.call, &ret, outcome, gone);
        self.history.record(Event::Complete {
            client: self.n,
            op: f.op,
            session,
            outcome,
            zxid: zxid.0,
            write: f.write,
            ret,
            xid: traced.xid,
            server: traced
                .server
                .and_then(|a| crate::cluster::server_sid(a.ip())),
        });
        match outcome {
            Outcome::Ok => self.stats.ok += 1,
            Outcome::Error(
                ErrorCode::NoNode
                | ErrorCode::NodeExists
                | ErrorCode::BadVersion
                | ErrorCode::NotEmpty,
            ) => self.stats.ok += 1,
            Outcome::Error(ErrorCode::SessionExpired) => {
                self.stats.failed += 1;
                return true;
            }
            Outcome::Error(_) => self.stats.failed += 1,
        }
        false
    }
}

/// The answer, if it is already in (polled once, without waiting).
fn ready_now(
    answer: &mut std::pin::Pin<Box<dyn std::future::Future<Output = Traced> + Send>>,
) -> Option<Traced> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match answer.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(t) => Some(t),
        std::task::Poll::Pending => None,
    }
}
