//! The topology's durable storage in the ensemble, for a worker process:
//! read whole when the worker starts, written before a step's messages
//! leave (`/transactional/<topology>/<dir>/<name>`, plain text).

use super::layout;
use crate::client::{Client, Zk};
use crate::proto::{CreateMode, ErrorCode, WriteOp};
use std::collections::{BTreeMap, BTreeSet};

/// The znodes this worker knows exist, so a write is a setData or a
/// create without asking first.
pub struct SavedStore {
    topology: String,
    known: BTreeSet<String>,
}

impl SavedStore {
    /// Read everything saved for `topology` (nothing yet: empty).
    pub async fn open(
        zk: &Client,
        topology: &str,
    ) -> Result<(SavedStore, BTreeMap<String, String>), String> {
        let mut store = SavedStore {
            topology: topology.to_string(),
            known: BTreeSet::new(),
        };
        let top = layout::transactional_dir(topology);
        let err = |e: ErrorCode| format!("reading {top}: {e:?}");
        let mut saved = BTreeMap::new();
        let dirs = match zk.get_children(&top, false).await {
            Ok(d) => d,
            Err(ErrorCode::NoNode) => return Ok((store, saved)),
            Err(e) => return Err(err(e)),
        };
        store
            .known
            .extend([layout::TRANSACTIONAL.to_string(), top.clone()]);
        for d in dirs {
            let dir = format!("{top}/{d}");
            store.known.insert(dir.clone());
            for n in zk.get_children(&dir, false).await.map_err(err)? {
                let path = format!("{dir}/{n}");
                let (data, _) = zk.get_data(&path, false).await.map_err(err)?;
                saved.insert(format!("{d}/{n}"), String::from_utf8_lossy(&data).into());
                store.known.insert(path);
            }
        }
        Ok((store, saved))
    }

    /// Write `entries` in one multi (creating what is missing); if another
    /// worker created a node meanwhile, look again and retry once.
    pub async fn write(&mut self, zk: &Client, entries: &[(String, String)]) -> Result<(), String> {
        for attempt in 0..2 {
            let ops = self.ops(entries);
            match zk.multi(ops.clone()).await {
                Ok(_) => {
                    self.known.extend(ops.iter().filter_map(path_of));
                    return Ok(());
                }
                Err(ErrorCode::NodeExists | ErrorCode::NoNode) if attempt == 0 => {
                    for path in ops.iter().filter_map(path_of) {
                        match zk.exists(&path, false).await {
                            Ok(Some(_)) => self.known.insert(path),
                            Ok(None) => self.known.remove(&path),
                            Err(e) => return Err(format!("saving: {e:?}")),
                        };
                    }
                }
                Err(e) => return Err(format!("saving: {e:?}")),
            }
        }
        Err("saving: the nodes kept changing".into())
    }

    fn ops(&self, entries: &[(String, String)]) -> Vec<WriteOp> {
        let mut ops = Vec::new();
        let mut planned = BTreeSet::new();
        let mut create = |path: String, data: Vec<u8>, ops: &mut Vec<WriteOp>| {
            if !self.known.contains(&path) && planned.insert(path.clone()) {
                let mode = CreateMode::Persistent;
                ops.push(WriteOp::Create {
                    path,
                    data: Some(data),
                    mode,
                    acl: None,
                });
                true
            } else {
                false
            }
        };
        for (key, value) in entries {
            let top = layout::transactional_dir(&self.topology);
            let dir = key.split_once('/').map_or(key.as_str(), |(d, _)| d);
            for p in [
                layout::TRANSACTIONAL.to_string(),
                top.clone(),
                format!("{top}/{dir}"),
            ] {
                create(p, Vec::new(), &mut ops);
            }
            let path = layout::saved_path(&self.topology, key);
            let data = value.clone().into_bytes();
            if !create(path.clone(), data.clone(), &mut ops) {
                ops.push(WriteOp::SetData {
                    path,
                    data: Some(data),
                    version: -1,
                });
            }
        }
        ops
    }
}

fn path_of(op: &WriteOp) -> Option<String> {
    match op {
        WriteOp::Create { path, .. } | WriteOp::SetData { path, .. } => Some(path.clone()),
        _ => None,
    }
}
