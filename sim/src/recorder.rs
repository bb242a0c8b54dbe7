//! Recording a client's calls in the history, as the checkers read them:
//! an `invoke` when a request goes out, a `complete` when its answer comes
//! in, and the watch events and state changes the client received, each
//! placed where it arrived relative to the answers (`Traced::events_before`).
//! The workload's clients and a user's (`testing`) record the same way.

use crate::history::{Call, ClientStatus, Event, History, Outcome, Ret};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc::UnboundedReceiver;
use zkstorm::client::{Client, ClientConfig, ClientEvent, Traced};
use zkstorm::proto::{CreateMode, ErrorCode, OpResult, ReadOp, Stat, WriteOp};
use zkstorm::server::wire::ClientOp;
use zkstorm::types::SessionId;

/// A client's events channel, recorded in the order the client received
/// events and answers.
pub(crate) struct EventLog {
    rx: UnboundedReceiver<ClientEvent>,
    /// Events taken off the channel so far.
    taken: u64,
    history: History,
    client: usize,
    session: SessionId,
}

impl EventLog {
    pub(crate) fn new(
        rx: UnboundedReceiver<ClientEvent>,
        history: History,
        client: usize,
        session: SessionId,
    ) -> EventLog {
        EventLog {
            rx,
            taken: 0,
            history,
            client,
            session,
        }
    }

    /// Record the events that arrived before the `upto`-th (all there are
    /// for `u64::MAX`).
    pub(crate) fn record(&mut self, upto: u64) {
        while self.taken < upto {
            let Ok(ev) = self.rx.try_recv() else { return };
            self.keep(ev);
        }
    }

    /// Close `client`'s session, giving up after 2 s, and record how it
    /// went, after the events that came before.
    pub(crate) async fn close(&mut self, client: &Client) {
        let wait = std::time::Duration::from_secs(2);
        let closed = tokio::time::timeout(wait, client.close()).await;
        self.record(u64::MAX);
        let error = match closed {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("{e:?}")),
            Err(_) => Some("timed out".to_string()),
        };
        self.history.record(Event::ClientState {
            client: self.client,
            session: self.session,
            state: ClientStatus::CloseAnswered { error },
            timeout_ms: None,
        });
    }

    /// The next event, waiting for it; recorded as it is taken.
    async fn next(&mut self) -> Option<ClientEvent> {
        let ev = self.rx.recv().await?;
        self.keep(ev.clone());
        Some(ev)
    }

    fn keep(&mut self, ev: ClientEvent) {
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
                timeout_ms: None,
            },
        });
    }
}

/// A client whose every call lands in the history, so the client checks
/// (`client.linearizable`, `client.sequential`, `client.sessions`,
/// `client.watches`, ...) judge the calls of the code that uses it. Use
/// it from one task: its answers and events are recorded in the order
/// that task sees them.
pub struct RecordedClient {
    client: Client,
    n: usize,
    session: SessionId,
    history: History,
    events: tokio::sync::Mutex<EventLog>,
    ops: AtomicU64,
}

impl RecordedClient {
    /// Connect client number `n` (its history name) with `cfg`.
    pub async fn connect(n: usize, cfg: ClientConfig, history: History) -> Result<Self, ErrorCode> {
        let (client, rx) = Client::connect(cfg).await?;
        let session = client.session_id();
        history.record(Event::ClientState {
            client: n,
            session,
            state: ClientStatus::SessionStarted,
            timeout_ms: Some(client.session_timeout_ms()),
        });
        let events = tokio::sync::Mutex::new(EventLog::new(rx, history.clone(), n, session));
        let ops = AtomicU64::new(0);
        Ok(RecordedClient {
            client,
            n,
            session,
            history,
            events,
            ops,
        })
    }

    /// This client's number in the history.
    pub fn index(&self) -> usize {
        self.n
    }

    pub fn session_id(&self) -> SessionId {
        self.session
    }

    /// Any op, recorded; its result.
    pub async fn call(&self, op: ClientOp) -> Result<OpResult, ErrorCode> {
        let op_id = self.ops.fetch_add(1, Ordering::Relaxed) + 1;
        let call = Call::of(&op);
        let write = !matches!(op, ClientOp::Read(_));
        self.events.lock().await.record(u64::MAX);
        let (client, session) = (self.n, self.session);
        let invoke = Event::Invoke {
            client,
            op: op_id,
            session,
            call: call.clone(),
        };
        self.history.record(invoke);
        let traced: Traced = self.client.submit(op).await;
        self.events.lock().await.record(traced.events_before);
        let (result, zxid) = traced.answer;
        self.history.record(Event::Complete {
            client,
            op: op_id,
            session,
            outcome: Outcome::of(&result),
            zxid: zxid.0,
            write,
            ret: Ret::answer(&call, result.clone()),
            xid: traced.xid,
            server: traced
                .server
                .and_then(|a| crate::cluster::server_sid(a.ip())),
        });
        result
    }

    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> Result<String, ErrorCode> {
        let data = Some(data.to_vec());
        let op = WriteOp::Create {
            path: path.into(),
            data,
            mode,
            acl: None,
        };
        match self.call(ClientOp::Write(op)).await? {
            OpResult::Created { path, .. } => Ok(path),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    pub async fn delete(&self, path: &str, version: i32) -> Result<(), ErrorCode> {
        let op = WriteOp::Delete {
            path: path.into(),
            version,
        };
        self.call(ClientOp::Write(op)).await.map(|_| ())
    }

    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat, ErrorCode> {
        let data = Some(data.to_vec());
        let op = WriteOp::SetData {
            path: path.into(),
            data,
            version,
        };
        match self.call(ClientOp::Write(op)).await? {
            OpResult::SetData { stat } => Ok(stat),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    pub async fn get_data(&self, path: &str, watch: bool) -> Result<(Vec<u8>, Stat), ErrorCode> {
        let op = ReadOp::GetData {
            path: path.into(),
            watch,
        };
        match self.call(ClientOp::Read(op)).await? {
            OpResult::Data { data, stat } => Ok((data.unwrap_or_default(), stat)),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    pub async fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>, ErrorCode> {
        let op = ReadOp::Exists {
            path: path.into(),
            watch,
        };
        match self.call(ClientOp::Read(op)).await? {
            OpResult::Exists(stat) => Ok(stat),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    pub async fn get_children(&self, path: &str, watch: bool) -> Result<Vec<String>, ErrorCode> {
        let op = ReadOp::GetChildren {
            path: path.into(),
            watch,
        };
        match self.call(ClientOp::Read(op)).await? {
            OpResult::Children { children, .. } => Ok(children),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    pub async fn sync(&self) -> Result<(), ErrorCode> {
        self.call(ClientOp::Sync).await.map(|_| ())
    }

    /// The next watch event or state change, waiting for it.
    pub async fn next_event(&self) -> Option<ClientEvent> {
        self.events.lock().await.next().await
    }

    /// Say something in the history (a lock taken, a leader elected) for
    /// an invariant of one's own to read.
    pub fn note(&self, text: impl Into<String>) {
        let (client, text) = (self.n, text.into());
        self.history.record(Event::Note { client, text });
    }

    /// Close the session (its ephemerals go), recorded; a close not
    /// answered within 2 s is given up (as the workload's clients do).
    pub async fn close(self) {
        self.events.lock().await.close(&self.client).await;
    }
}
