//! Faults on client sessions: expire_session.

use super::{d, Action, Cx, Fault, Fired, Firing, Kind, Lasts, Picks, Undo, R};
use crate::scenario::error::ErrorKind;
use crate::scenario::schema::{Int, WorkloadSpec};
use std::time::Duration;
use toml::Spanned;
use zkstorm::types::Sid;

/// How long `expire_session` cuts a client off by default.
pub fn expiry_cut(w: &WorkloadSpec) -> Duration {
    w.session_timeout * 2 + Duration::from_secs(1)
}

/// Cut client `client` off from every server long enough for its session
/// to expire (until `until`, or twice the session timeout plus 1s).
#[derive(Clone, Debug, PartialEq)]
pub struct ExpireSession {
    pub client: usize,
}

impl Kind for ExpireSession {
    const KEY: &'static str = "expire_session";
    const VALUE: &'static str = "client index";
    const ABOUT: &'static str = "cut a client off until its session expires (default 2×timeout+1s)";
    const LASTS: Lasts = Lasts::Until;
    type Raw = Int;
    fn validate(raw: &Spanned<Int>, cx: &Cx) -> R<Self> {
        let (n, w) = (raw.get_ref().0, cx.workload);
        let field = &cx.field;
        if w.clients == 0 {
            return Err(cx.v.at(
                raw,
                field,
                ErrorKind::NoSuchNode,
                "the workload has no clients",
            ));
        }
        if n < 0 || n >= w.clients as i128 {
            return Err(cx.v.at(
                raw,
                field,
                ErrorKind::NoSuchNode,
                format!(
                    "client {n} does not exist: the workload has {} client{} ({})",
                    w.clients,
                    if w.clients == 1 { "" } else { "s" },
                    if w.clients == 1 {
                        "client 0".to_string()
                    } else {
                        format!("clients 0..={}", w.clients - 1)
                    }
                ),
            ));
        }
        let cut = cx.until.map(|u| u - cx.at).unwrap_or_else(|| expiry_cut(w));
        if cut <= w.session_timeout {
            return Err(cx.v.err(
                cx.until_offset.unwrap_or(raw.span().start),
                format!("{}.until", cx.base),
                ErrorKind::OutOfRange,
                format!(
                    "the client is cut off for {}, not longer than its session timeout ({}), so the session need not expire",
                    d(cut),
                    d(w.session_timeout)
                ),
            ));
        }
        if cx.at + cut > cx.duration {
            return Err(cx.v.at(
                raw,
                field,
                ErrorKind::OutOfRange,
                format!(
                    "the client stays cut off until {} (twice the session timeout plus 1s), past the end of the load (duration = {}): fire it earlier or give a shorter until",
                    d(cx.at + cut),
                    d(cx.duration)
                ),
            ));
        }
        Ok(ExpireSession { client: n as usize })
    }
}

impl Fault for ExpireSession {
    fn picks(&self) -> Picks {
        Picks::Nothing
    }
    fn render(&self) -> String {
        self.client.to_string()
    }
    fn with_nodes(&self, _: &[Vec<Sid>]) -> Action {
        Action::ExpireSession(self.clone())
    }
    fn end(&self, at: Duration, w: &WorkloadSpec) -> Duration {
        at + expiry_cut(w)
    }
    fn fire(&self, _: &[Vec<Sid>], cx: &mut Firing) -> Fired {
        let node = cx.clients[self.client];
        let links = cx.cluster.client_links(node);
        let f = cx.fault;
        let until = f.until.unwrap_or(f.at + expiry_cut(&cx.sc.workload));
        cx.cluster.history.fault(format!(
            "{} client {} (cut off until {})",
            cx.head,
            self.client,
            d(until)
        ));
        cx.cluster.cut_links(&links);
        Fired::Done(Some(Undo::new(true, move |cluster, _, head| {
            cluster.history.fault(format!("{head}: reconnect"));
            cluster.restore_links(&links);
        })))
    }
}
