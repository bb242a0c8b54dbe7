//! Committed state with its txid, and Trident's two rules for applying a
//! batch's update to it (pure functions: the committer calls them).

use serde::{Deserialize, Serialize};

/// How a committer stores a key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// `(value, txid)`: a batch whose txid is already stored was applied
    /// before and is skipped. Right when a replayed batch holds exactly
    /// the same tuples (a transactional source).
    Transactional,
    /// `(value, prev, txid)`: a replay of the stored txid recomputes from
    /// `prev`, so a replayed batch may differ from its first attempt.
    Opaque,
}

impl StateKind {
    pub fn name(self) -> &'static str {
        match self {
            StateKind::Transactional => "transactional",
            StateKind::Opaque => "opaque",
        }
    }
}

/// One key's committed state, as saved (JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub value: i64,
    /// Opaque only: the value before the batch `txid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<i64>,
    pub txid: u64,
}

/// The state after applying `delta` of batch `txid` to `cur`; `None`: no
/// write (the batch was applied already). An opaque state that already
/// holds a later txid is an error: commits went out of order.
pub fn apply(
    kind: StateKind,
    cur: Option<Stored>,
    txid: u64,
    delta: i64,
) -> Result<Option<Stored>, String> {
    let replay = crate::bugs::on(crate::bugs::Bug::StormCommitIgnoresTxid);
    match (kind, cur) {
        (_, None) => Ok(Some(fresh(kind, 0, txid, delta))),
        (StateKind::Transactional, Some(c)) if c.txid == txid && !replay => Ok(None),
        (StateKind::Transactional, Some(c)) => Ok(Some(fresh(kind, c.value, txid, delta))),
        (StateKind::Opaque, Some(c)) if c.txid < txid || replay => {
            Ok(Some(fresh(kind, c.value, txid, delta)))
        }
        (StateKind::Opaque, Some(c)) if c.txid == txid => {
            let prev = c.prev.unwrap_or(0);
            Ok(Some(fresh(kind, prev, txid, delta)))
        }
        (StateKind::Opaque, Some(c)) => Err(format!(
            "batch {txid} commits over state of the later batch {}",
            c.txid
        )),
    }
}

/// The saved key of a state key: `state/<name>`, with `%` and `/` (and a
/// name of dots, or none) escaped so it is one plain znode name.
pub fn state_key(key: &str) -> String {
    let name = match key {
        "" => "%".to_string(),
        "." | ".." => key.replace('.', "%2E"),
        _ => key.replace('%', "%25").replace('/', "%2F"),
    };
    format!("{STATE_DIR}/{name}")
}

/// The state key a saved key names (`None`: not a state key).
pub fn key_of(saved: &str) -> Option<String> {
    let name = saved.strip_prefix(STATE_DIR)?.strip_prefix('/')?;
    Some(match name {
        "%" => String::new(),
        _ => name
            .replace("%2E", ".")
            .replace("%2F", "/")
            .replace("%25", "%"),
    })
}

/// Each key's committed value in a topology's saved entries (what
/// committers saved under `state/`); unreadable entries are left out.
pub fn committed(
    saved: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, i64> {
    saved
        .iter()
        .filter_map(|(k, v)| {
            let s: Stored = serde_json::from_str(v).ok()?;
            Some((key_of(k)?, s.value))
        })
        .collect()
}

/// Where committed state is saved.
pub const STATE_DIR: &str = "state";

fn fresh(kind: StateKind, before: i64, txid: u64, delta: i64) -> Stored {
    Stored {
        value: before + delta,
        prev: (kind == StateKind::Opaque).then_some(before),
        txid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(value: i64, prev: Option<i64>, txid: u64) -> Option<Stored> {
        Some(Stored { value, prev, txid })
    }

    #[test]
    fn transactional_applies_a_new_txid_and_skips_a_replayed_one() {
        let k = StateKind::Transactional;
        assert_eq!(apply(k, None, 1, 5), Ok(s(5, None, 1)));
        assert_eq!(apply(k, s(5, None, 1), 2, 3), Ok(s(8, None, 2)));
        assert_eq!(apply(k, s(8, None, 2), 2, 3), Ok(None));
    }

    #[test]
    fn opaque_recomputes_a_replay_from_prev() {
        let k = StateKind::Opaque;
        let first = apply(k, None, 1, 5).unwrap();
        assert_eq!(first, s(5, Some(0), 1));
        let second = apply(k, first, 2, 3).unwrap();
        assert_eq!(second, s(8, Some(5), 2));
        // Batch 2 replayed with different tuples: 4 instead of 3.
        assert_eq!(apply(k, second, 2, 4), Ok(s(9, Some(5), 2)));
        assert!(
            apply(k, second, 1, 1).is_err(),
            "an older batch after a newer"
        );
    }

    #[test]
    fn state_keys_are_plain_znode_names_and_read_back() {
        for k in ["cow", "a/b", "50%", "", ".", "..", "%2F"] {
            let saved = state_key(k);
            let name = saved.strip_prefix("state/").unwrap();
            assert!(!name.contains('/') && !name.is_empty() && name != "." && name != "..");
            assert_eq!(key_of(&saved).as_deref(), Some(k), "{saved}");
        }
        assert_eq!(key_of("coordinator/currtx"), None);
    }

    #[test]
    fn stored_state_reads_back_from_its_json() {
        let v = Stored {
            value: 9,
            prev: Some(5),
            txid: 2,
        };
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(text, r#"{"value":9,"prev":5,"txid":2}"#);
        assert_eq!(serde_json::from_str::<Stored>(&text).unwrap(), v);
    }
}
