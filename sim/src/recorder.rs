//! Recording a client's calls in the history, as the checkers read them:
//! an `invoke` when a request goes out, a `complete` when its answer comes
//! in, and the watch events and state changes the client received, each
//! placed where it arrived relative to the answers (`Traced::events_before`).
//! The workload's clients and a user's (`testing`) record the same way.

use crate::history::{Call, ClientStatus, Event, History, Outcome, Ret};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc::UnboundedReceiver;
use zkstorm::client::{Client, ClientConfig, ClientEvent, Events, Traced, Zk};
use zkstorm::proto::{ErrorCode, OpResult};
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
    /// Events recorded but not yet handed out by `next` (a user's client
    /// only: the workload's never asks).
    unread: Option<VecDeque<ClientEvent>>,
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
            unread: None,
        }
    }

    /// Keep every event for `next`, also those recorded while a call was
    /// answered.
    fn handing_out(mut self) -> EventLog {
        self.unread = Some(VecDeque::new());
        self
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
        if let Some(ev) = self.unread.as_mut().and_then(|q| q.pop_front()) {
            return Some(ev);
        }
        let ev = self.rx.recv().await?;
        self.keep(ev);
        self.unread.as_mut().and_then(|q| q.pop_front())
    }

    fn keep(&mut self, ev: ClientEvent) {
        self.taken += 1;
        if let Some(q) = &mut self.unread {
            q.push_back(ev.clone());
        }
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
        let log = EventLog::new(rx, history.clone(), n, session).handing_out();
        let events = tokio::sync::Mutex::new(log);
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

    /// Any op, recorded; its result.
    async fn record_call(&self, op: ClientOp) -> Result<OpResult, ErrorCode> {
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

impl Zk for RecordedClient {
    fn call(&self, op: ClientOp) -> impl Future<Output = Result<OpResult, ErrorCode>> + Send {
        self.record_call(op)
    }

    fn session_id(&self) -> SessionId {
        self.session
    }
}

impl Events for RecordedClient {
    /// The next watch event or state change, waiting for it.
    async fn next_event(&self) -> Option<ClientEvent> {
        self.events.lock().await.next().await
    }
}
