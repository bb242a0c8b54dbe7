//! Injectable bugs: named re-creations, in this code, of the shapes of real
//! ZAB bugs, so that the testbed can be scored on finding them (`zkstorm
//! fuzz --bug NAME`, or `bugs = [...]` in a scenario file). Only simulation
//! builds can switch one on, one simulation (one OS thread) at a time; a
//! real build compiles every check to `false`.

/// Every bug that can be injected: its name (as scenario files and `--bug`
/// spell it) and what it breaks.
macro_rules! catalogue {
    ($($V:ident = $name:literal: $about:literal,)*) => {
        /// An injectable bug (`Bug::ALL`; `FromStr` reads its name).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Bug { $($V),* }

        impl Bug {
            /// Every bug, in catalogue order.
            pub const ALL: &[Bug] = &[$(Bug::$V),*];
            /// The name scenario files and `--bug` use.
            pub fn name(self) -> &'static str {
                match self { $(Bug::$V => $name),* }
            }
            /// What it breaks, in a line (`zkstorm list`).
            pub fn about(self) -> &'static str {
                match self { $(Bug::$V => $about),* }
            }
        }
    };
}

catalogue! {
    AckBeforeFsync = "ack-before-fsync":
        "a follower ACKs a proposal as soon as it is logged, before it is durable: a quorum can lose a committed txn in a power loss",
    NewleaderAckBeforeSync = "newleader-ack-before-sync":
        "a follower ACKs NEWLEADER before the txns the leader synced to it are durable (ZOOKEEPER-3911/4646): the leader counts on a history that a power loss takes away",
    SnapKeepsStaleLog = "snap-keeps-stale-log":
        "a follower installing a SNAP keeps the log records above the snapshot's zxid (ZOOKEEPER-2832): after a restart it replays txns the leader discarded, and loses the ones it synced after them",
    ZxidBeforeDiff = "zxid-before-diff":
        "a follower that synced a DIFF writes a snapshot labelled with the NEWLEADER zxid before it has applied the DIFF's txns (ZOOKEEPER-2355): after a restart those txns are never applied",
    SessionMovedKeepsConnection = "session-moved-keeps-connection":
        "a reconnect's fence answers whichever connection of the session reconnected last, not the one that asked, and a connection refused as moved is kept: a client that reconnects twice while its first fence is in flight has every later request refused with SessionMoved",
    AckepochBeforeDurable = "ackepoch-before-durable":
        "a follower sends its ACKEPOCH before the epoch it accepted is durable: a power loss takes the promise back, and the follower can vouch for that epoch to another would-be leader",
    EphemeralOutlivesSession = "ephemeral-outlives-session":
        "closing or expiring a session does not delete its ephemeral znodes: they outlive the session that owned them",
    WatchAfterReply = "watch-after-reply":
        "a server answers a write before it sends the watch event that write fired, even to the writer's own connection: the client sees the new data before the event",
    DiffInsteadOfTrunc = "diff-instead-of-trunc":
        "a leader syncs a follower that logged txns it never had with a DIFF from the follower's tip instead of a TRUNC (ZOOKEEPER-1154): the follower keeps uncommitted txns of an old epoch under the new history",
    EpochBeforeTxns = "epoch-before-txns":
        "a follower makes its new currentEpoch durable before the txns the leader synced to it (ZOOKEEPER-4643/4785): a power loss between leaves a server whose epoch vouches for a history it does not have",
    VoteOrderNotTotal = "vote-order-not-total":
        "fast leader election compares votes with a predicate that is not a total order — the sid tiebreak ignores the epoch (ZOOKEEPER-1419): peers can disagree on the best vote and fail to settle",
    CommitWithoutQuorum = "commit-without-quorum":
        "the leader commits a proposal on its own durable copy, without a quorum of ACKs: a leader cut off from the rest still acknowledges writes that a new leader never sees",
    SequentialNameReused = "sequential-name-reused":
        "a sequential create's suffix is its parent's child count, not its count of creates: once a child is gone the next name is one already handed out (NodeExists, or a name used twice)",
    ExpireLiveSession = "expire-live-session":
        "a leader moves a session's deadline on the touches its followers report, not on its own clients' messages: a session that talks only to the leader expires one timeout after it began (or the epoch did)",
    StormEdgeNotXored = "storm-edge-not-xored":
        "a bolt's anchored emit does not XOR the child's edge into its input's ack value: the acker sees the tree complete while the child is still being processed",
    StormPendingLimitIgnored = "storm-pending-limit-ignored":
        "a spout is asked for more tuples while max spout pending messages are already in flight",
    StormTimeoutFailDropped = "storm-timeout-fail-dropped":
        "a message that times out is dropped from the spout's pending map without a fail callback (STORM-3300's shape): the spout never replays it",
    StormNimbusKeepsLeading = "storm-nimbus-keeps-leading":
        "a Nimbus leader that loses its connection to the ensemble goes on acting as leader until it learns its session expired (the Curator SUSPENDED state ignored): a successor leads meanwhile",
    StormZombieWorker = "storm-zombie-worker":
        "a worker whose tasks were moved to another slot keeps running them, and its supervisor leaves it alone (STORM-3655's shape): the tasks run twice",
    StormLateAckAfterTimeout = "storm-late-ack-after-timeout":
        "an ack that arrives after its message timed out still runs the spout's ack callback: the message is failed and then acked",
    StormCommitIgnoresTxid = "storm-commit-ignores-txid":
        "a committer applies a batch to state that already holds that batch's txid (the transactional rule skipped): a batch committed by some tasks and then replayed is counted twice",
    StormCommitOutOfOrder = "storm-commit-out-of-order":
        "the batch coordinator commits any batch whose tuples are all processed, not only the oldest (STORM-1557's shape): state sees txids out of order",
}

/// Every bug's name, in catalogue order.
pub fn names() -> Vec<&'static str> {
    Bug::ALL.iter().map(|b| b.name()).collect()
}

impl std::str::FromStr for Bug {
    type Err = String;

    fn from_str(name: &str) -> Result<Bug, String> {
        Bug::ALL
            .iter()
            .copied()
            .find(|b| b.name() == name)
            .ok_or_else(|| format!("unknown bug {name:?}"))
    }
}

impl std::fmt::Display for Bug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bugs of the topology engine (named `storm-*`): `zkstorm mutants`
/// hunts the others, which random ensemble storms reach.
pub fn is_storm(bug: Bug) -> bool {
    bug.name().starts_with("storm-")
}

#[cfg(madsim)]
thread_local! {
    static ON: std::cell::RefCell<Vec<Bug>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Switch on exactly these bugs for the simulation on this thread. Unknown
/// names are refused (the scenario validator names the known ones).
pub fn enable(names: &[String]) -> Result<(), String> {
    let on = names
        .iter()
        .map(|n| n.parse())
        .collect::<Result<Vec<Bug>, String>>()?;
    #[cfg(madsim)]
    ON.with(|b| *b.borrow_mut() = on);
    #[cfg(not(madsim))]
    if !on.is_empty() {
        return Err("bugs can only be injected into simulation builds".into());
    }
    Ok(())
}

/// Is this bug switched on (always false outside the simulation)?
#[inline]
pub fn on(bug: Bug) -> bool {
    #[cfg(madsim)]
    {
        ON.with(|b| b.borrow().contains(&bug))
    }
    #[cfg(not(madsim))]
    {
        let _ = bug;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bugs_are_switched_on_by_name_only() {
        assert!(enable(&["no-such-bug".into()]).is_err());
        enable(&["commit-without-quorum".into()]).unwrap();
        assert!(on(Bug::CommitWithoutQuorum));
        assert!(!on(Bug::AckBeforeFsync));
        enable(&[]).unwrap();
        assert!(!on(Bug::CommitWithoutQuorum));
        for b in Bug::ALL {
            assert_eq!(b.name().parse::<Bug>(), Ok(*b));
        }
    }
}
