//! Message faults: rules the nemesis arms (`on_message` faults), consulted
//! by every server as each peer message leaves (`Observer::sending`). A rule
//! matches a message kind on a link; it drops the message (the link breaks
//! there, as a TCP reset), delays the link behind it, or tells the nemesis to
//! act on the sender or receiver at that instant.

use rand::rngs::StdRng;
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zkstorm::server::SendFate;
use zkstorm::types::Sid;
use zkstorm::zab::msg::PeerMsg;

/// What a matching message does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// The link breaks at the message: it is lost, the sender sees the link fail.
    Drop,
    /// It and everything behind it on the link wait this long.
    Delay(Duration),
    /// Sent as usual; the nemesis acts on a node at once (`Trigger`).
    Act,
}

/// One armed rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The `[[fault]]` that armed it.
    pub fault: usize,
    pub kind: &'static str,
    /// Senders and receivers it applies to; `None` is any.
    pub from: Option<Vec<Sid>>,
    pub to: Option<Vec<Sid>>,
    pub then: Then,
    /// Matches left before it is spent.
    pub left: u64,
    /// Fires on a match with this probability (buggify-style), drawn from
    /// its own stream; `None`: on every match.
    pub chance: Option<(f64, StdRng)>,
}

/// A message a rule matched: which fault's rule, on which link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub fault: usize,
    pub from: Sid,
    pub to: Sid,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// Every match the nemesis has not handled yet (it records each, and
    /// acts on `Then::Act`).
    matched: Vec<Trigger>,
    /// Nodes each fault's matches took down, to restart when it is disarmed.
    downed: Vec<(usize, Sid)>,
    /// Links each fault's matches cut, to reconnect when it is disarmed.
    cut: Vec<(usize, Vec<crate::cluster::Link>)>,
    /// Servers whose disks each fault's matches slowed, to restore.
    slowed: Vec<(usize, Sid)>,
}

/// The rules of one run, shared by the servers' observer and the nemesis.
#[derive(Clone, Default)]
pub struct Messages {
    state: Arc<Mutex<State>>,
    /// Any rule armed: the common case (none) costs one load per message.
    armed: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
}

impl Messages {
    pub fn arm(&self, rule: Rule) {
        let mut s = self.state.lock().expect("messages lock");
        s.rules.push(rule);
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Disarm the rules of `fault` (every rule if `None`).
    pub fn disarm(&self, fault: Option<usize>) {
        let mut s = self.state.lock().expect("messages lock");
        s.rules.retain(|r| fault.is_some_and(|f| r.fault != f));
        self.armed.store(!s.rules.is_empty(), Ordering::Relaxed);
    }

    /// What happens to `msg` from `from` to `to`: the first armed rule that
    /// matches decides, and is spent by one.
    pub fn sending(&self, from: Sid, to: Sid, msg: &PeerMsg) -> SendFate {
        match self.matched_rule(msg.kind(), from, to) {
            None | Some(Then::Act) => SendFate::Send,
            Some(Then::Drop) => SendFate::Break,
            Some(Then::Delay(d)) => SendFate::Delay(d),
        }
    }

    /// Server `sid` reached a fault point (`zkstorm::server::FAULT_POINTS`):
    /// a rule on it acts on that server (from = to = `sid`).
    pub fn reached(&self, sid: Sid, point: &'static str) {
        self.matched_rule(point, sid, sid);
    }

    /// The first armed rule for `kind` on this link, spent by one and noted
    /// for the nemesis.
    fn matched_rule(&self, kind: &'static str, from: Sid, to: Sid) -> Option<Then> {
        if !self.armed.load(Ordering::Relaxed) {
            return None;
        }
        let mut s = self.state.lock().expect("messages lock");
        let on = |set: &Option<Vec<Sid>>, sid: Sid| set.as_ref().is_none_or(|v| v.contains(&sid));
        // The first rule on this link that fires (a rule with a chance may
        // let the match pass to the next).
        let i = s.rules.iter_mut().position(|r| {
            r.kind == kind
                && on(&r.from, from)
                && on(&r.to, to)
                && r.chance.as_mut().is_none_or(|(p, rng)| rng.gen_bool(*p))
        })?;
        let rule = &mut s.rules[i];
        rule.left -= 1;
        let (fault, then) = (rule.fault, rule.then);
        if rule.left == 0 {
            s.rules.remove(i);
            self.armed.store(!s.rules.is_empty(), Ordering::Relaxed);
        }
        s.matched.push(Trigger { fault, from, to });
        drop(s);
        self.wake.notify_one();
        Some(then)
    }

    /// Note that a match of `fault` took `sid` down.
    pub fn took_down(&self, fault: usize, sid: Sid) {
        let mut s = self.state.lock().expect("messages lock");
        s.downed.push((fault, sid));
    }

    /// The nodes matches of `fault` took down (and forget them).
    pub fn downed(&self, fault: usize) -> Vec<Sid> {
        let mut s = self.state.lock().expect("messages lock");
        nodes_of(take_of(&mut s.downed, fault))
    }

    /// Note that a match of `fault` cut these links.
    pub fn cut_off(&self, fault: usize, links: Vec<crate::cluster::Link>) {
        let mut s = self.state.lock().expect("messages lock");
        s.cut.push((fault, links));
    }

    /// Note that a match of `fault` slowed `sid`'s disk.
    pub fn slowed(&self, fault: usize, sid: Sid) {
        self.state
            .lock()
            .expect("messages lock")
            .slowed
            .push((fault, sid));
    }

    /// The servers whose disks matches of `fault` slowed (and forget them).
    pub fn take_slowed(&self, fault: usize) -> Vec<Sid> {
        let mut s = self.state.lock().expect("messages lock");
        nodes_of(take_of(&mut s.slowed, fault))
    }

    /// The links matches of `fault` cut (and forget them).
    pub fn cuts(&self, fault: usize) -> Vec<crate::cluster::Link> {
        let mut s = self.state.lock().expect("messages lock");
        take_of(&mut s.cut, fault).into_iter().flatten().collect()
    }

    /// Wait until a rule has matched since the last `take`.
    pub async fn matched(&self) {
        self.wake.notified().await;
    }

    /// Every match since the last call, in order.
    pub fn take(&self) -> Vec<Trigger> {
        std::mem::take(&mut self.state.lock().expect("messages lock").matched)
    }
}

/// Take out what `fault`'s matches left in `list`.
fn take_of<T>(list: &mut Vec<(usize, T)>, fault: usize) -> Vec<T> {
    let (mine, rest) = std::mem::take(list)
        .into_iter()
        .partition::<Vec<_>, _>(|(f, _)| *f == fault);
    *list = rest;
    mine.into_iter().map(|(_, x)| x).collect()
}

/// Sorted, each once.
fn nodes_of(mut v: Vec<Sid>) -> Vec<Sid> {
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: &'static str, from: Option<Vec<Sid>>, then: Then, left: u64) -> Rule {
        Rule {
            fault: 0,
            kind,
            from,
            to: None,
            then,
            left,
            chance: None,
        }
    }

    #[test]
    fn a_rule_matches_its_kind_and_link_and_is_spent() {
        let m = Messages::default();
        m.arm(rule("ACK", Some(vec![2]), Then::Drop, 2));
        assert_eq!(m.sending(2, 1, &PeerMsg::Ping), SendFate::Send);
        assert_eq!(
            m.sending(
                3,
                1,
                &PeerMsg::Ack {
                    zxid: Default::default()
                }
            ),
            SendFate::Send
        );
        let ack = PeerMsg::Ack {
            zxid: Default::default(),
        };
        assert_eq!(m.sending(2, 1, &ack), SendFate::Break);
        assert_eq!(m.sending(2, 5, &ack), SendFate::Break);
        assert_eq!(m.sending(2, 1, &ack), SendFate::Send, "spent after two");
        assert_eq!(m.take().len(), 2);
    }

    #[test]
    fn triggers_are_handed_to_the_nemesis_and_disarm_stops_them() {
        let m = Messages::default();
        m.arm(rule("PING", None, Then::Act, 10));
        assert_eq!(m.sending(1, 2, &PeerMsg::Ping), SendFate::Send);
        assert_eq!(
            m.take(),
            vec![Trigger {
                fault: 0,
                from: 1,
                to: 2
            }]
        );
        m.disarm(Some(0));
        assert_eq!(m.sending(1, 2, &PeerMsg::Ping), SendFate::Send);
        assert!(m.take().is_empty());
    }

    #[test]
    fn a_rule_with_a_chance_fires_on_some_matches_the_same_ones_each_time() {
        use rand::SeedableRng;
        let fired = || {
            let m = Messages::default();
            let mut r = rule("PING", None, Then::Drop, 1_000);
            r.chance = Some((0.25, StdRng::seed_from_u64(7)));
            m.arm(r);
            (0..400)
                .map(|_| m.sending(1, 2, &PeerMsg::Ping) == SendFate::Break)
                .collect::<Vec<bool>>()
        };
        let a = fired();
        let n = a.iter().filter(|x| **x).count();
        assert!((60..=140).contains(&n), "{n} of 400 at 25%");
        assert_eq!(a, fired(), "the same stream, the same matches");
    }
}
