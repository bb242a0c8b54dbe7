//! The persister: one task that owns the store and makes the core's persist
//! batches durable, strictly in order, grouping whatever queued up behind a
//! slow fsync into one. The driver keeps serving pings and messages meanwhile
//! and learns from `Inbox::Persisted` what is durable.

use super::{Inbox, Observer};
use crate::store::Store;
use crate::types::Sid;
use crate::zab::ready::{LogMark, PersistOp};
use std::io;
use std::sync::Arc;
use tokio::sync::mpsc;

/// One `Ready`'s persistence.
pub(super) struct PersistJob {
    pub batch: u64,
    pub ops: Vec<PersistOp>,
    pub mark: LogMark,
}

/// Who reports the fault points reached here.
type Points = (Sid, Arc<dyn Observer>);

pub(super) fn spawn(
    store: Store,
    inbox: mpsc::UnboundedSender<Inbox>,
    points: Points,
) -> mpsc::UnboundedSender<PersistJob> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(store, rx, inbox, points));
    tx
}

async fn run(
    mut store: Store,
    mut jobs: mpsc::UnboundedReceiver<PersistJob>,
    inbox: mpsc::UnboundedSender<Inbox>,
    points: Points,
) {
    while let Some(first) = jobs.recv().await {
        let (mut batch, mut mark) = (first.batch, first.mark);
        let mut ops = first.ops;
        // Group commit: everything queued so far shares the next fsync.
        while let Ok(job) = jobs.try_recv() {
            (batch, mark) = (job.batch, job.mark);
            ops.extend(job.ops);
        }
        let done = match persist(&mut store, ops, &points).await {
            Ok(()) => Inbox::Persisted { batch, mark },
            Err(e) => Inbox::DiskFailed(e),
        };
        let failed = matches!(done, Inbox::DiskFailed(_));
        if inbox.send(done).is_err() || failed {
            return;
        }
    }
}

/// Perform `ops` in order; everything is durable when this returns.
async fn persist(store: &mut Store, ops: Vec<PersistOp>, points: &Points) -> io::Result<()> {
    let reached = |point| points.1.reached(points.0, point);
    let mut dirty = false;
    for op in ops {
        match op {
            PersistOp::Append(txn) => {
                store.append(txn.zxid, &txn.encode())?;
                dirty = true;
            }
            PersistOp::Epochs { accepted, current } => {
                // Synced txns must be durable before the epoch that vouches
                // for them (unless that bug is injected, sim only).
                if !crate::bugs::on(crate::bugs::Bug::EpochBeforeTxns) && std::mem::take(&mut dirty)
                {
                    store.sync().await?;
                }
                let before = store.epochs().1;
                store.save_epochs(accepted, current).await?;
                reached(if current != before {
                    "CURRENT_EPOCH_DURABLE"
                } else {
                    "ACCEPTED_EPOCH_DURABLE"
                });
            }
            PersistOp::Truncate(zxid) => {
                if std::mem::take(&mut dirty) {
                    store.sync().await?;
                }
                store.truncate_after(zxid).await?;
                reached("TRUNCATED");
            }
            PersistOp::InstallSnapshot { zxid, state } => {
                store.install_snapshot(zxid, &state).await?;
                dirty = false;
                reached("SNAPSHOT_DURABLE");
            }
            PersistOp::Snapshot { zxid, state } => {
                if std::mem::take(&mut dirty) {
                    store.sync().await?;
                }
                store.save_snapshot(zxid, &state).await?;
                reached("SNAPSHOT_DURABLE");
            }
        }
    }
    if dirty {
        store.sync().await?;
    }
    Ok(())
}
