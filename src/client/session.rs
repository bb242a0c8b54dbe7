//! A client together with its events channel: the handle a recipe that
//! waits on watches takes (`Events`).

use super::{Client, ClientConfig, ClientEvent, Events, Zk};
use crate::proto::{ErrorCode, OpResult};
use crate::server::wire::ClientOp;
use crate::types::SessionId;
use std::future::Future;
use tokio::sync::{mpsc::UnboundedReceiver, Mutex};

impl Zk for Client {
    fn call(&self, op: ClientOp) -> impl Future<Output = Result<OpResult, ErrorCode>> + Send {
        let answer = self.submit(op);
        async move { answer.await.answer.0 }
    }

    fn session_id(&self) -> SessionId {
        Client::session_id(self)
    }
}

/// A connected client and its events, handed out one at a time.
pub struct Session {
    pub client: Client,
    events: Mutex<UnboundedReceiver<ClientEvent>>,
}

impl Session {
    /// Connect and establish a session.
    pub async fn connect(cfg: ClientConfig) -> Result<Session, ErrorCode> {
        let (client, events) = Client::connect(cfg).await?;
        Ok(Session::new(client, events))
    }

    /// A client and the events channel `Client::connect` gave with it.
    pub fn new(client: Client, events: UnboundedReceiver<ClientEvent>) -> Session {
        let events = Mutex::new(events);
        Session { client, events }
    }
}

impl Zk for Session {
    fn call(&self, op: ClientOp) -> impl Future<Output = Result<OpResult, ErrorCode>> + Send {
        self.client.call(op)
    }

    fn session_id(&self) -> SessionId {
        self.client.session_id()
    }
}

impl Events for Session {
    async fn next_event(&self) -> Option<ClientEvent> {
        self.events.lock().await.recv().await
    }
}
