//! Snapshot format: MAGIC, CRC32 of the body (u32 LE), then the body in
//! bincode: every node (path, data, Stat, ACL) in path order, and the sessions.
//! The checksum makes truncated or corrupted input fail cleanly instead of
//! decoding into some other, valid-looking tree.

use super::{path, DataTree, Node};
use crate::acl::NodeAcl;
use crate::proto::{ErrorCode, Stat, MAX_DATA_LEN};
use crate::types::SessionId;
use bincode::Options;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const MAGIC: &[u8; 8] = b"ZKTREE02";
const HEADER_LEN: usize = MAGIC.len() + 4;

#[derive(Serialize)]
struct NodeRef<'a> {
    path: &'a str,
    data: Option<&'a [u8]>,
    stat: &'a Stat,
    acl: &'a NodeAcl,
}

#[derive(Serialize)]
struct BodyRef<'a> {
    nodes: Vec<NodeRef<'a>>,
    sessions: &'a BTreeMap<SessionId, u64>,
}

#[derive(Deserialize)]
struct NodeOwned {
    path: String,
    data: Option<Vec<u8>>,
    stat: Stat,
    acl: NodeAcl,
}

#[derive(Deserialize)]
struct BodyOwned {
    nodes: Vec<NodeOwned>,
    sessions: BTreeMap<SessionId, u64>,
}

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

pub(crate) fn encode(tree: &DataTree) -> Vec<u8> {
    let body = BodyRef {
        nodes: tree
            .nodes
            .iter()
            .map(|(path, n)| NodeRef {
                path,
                data: n.data.as_deref(),
                stat: &n.stat,
                acl: &n.acl,
            })
            .collect(),
        sessions: &tree.sessions,
    };
    // Plain structs of strings, bytes and integers: encoding cannot fail.
    let body = options()
        .serialize(&body)
        .expect("encoding a tree snapshot cannot fail");
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

pub(crate) fn decode(bytes: &[u8]) -> Result<DataTree, ErrorCode> {
    let bad = ErrorCode::MarshallingError;
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad);
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[MAGIC.len()..HEADER_LEN]);
    let body = &bytes[HEADER_LEN..];
    if crc32fast::hash(body) != u32::from_le_bytes(crc) {
        return Err(bad);
    }
    // The limit bounds any length prefix by the input size.
    let body: BodyOwned = options()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|_| bad)?;
    build(body).ok_or(bad)
}

/// Rebuilds the derived state and rejects anything `DataTree` itself could
/// never have produced.
fn build(body: BodyOwned) -> Option<DataTree> {
    // The snapshot holds ZooKeeper's subtree like any other nodes.
    let mut tree = DataTree::bare();
    for (session, timeout) in body.sessions {
        tree.create_session(session, timeout);
    }
    let mut seen = BTreeSet::new();
    let mut root = None;
    let mut rest = BTreeMap::new();
    for n in body.nodes {
        path::validate(&n.path, false).ok()?;
        let len = super::data_len(n.data.as_deref());
        let len_ok = len <= MAX_DATA_LEN && n.stat.data_length as usize == len;
        if !len_ok || n.stat.data_length < 0 || !seen.insert(n.path.clone()) {
            return None;
        }
        super::check_stored_acl(&n.acl).ok()?;
        if n.path == "/" {
            root = Some(n);
        } else {
            rest.insert(n.path, (n.data, n.stat, n.acl));
        }
    }
    let root = root?;
    if root.stat.ephemeral_owner != 0 {
        return None;
    }
    tree.set_data("/", root.data, root.stat);
    tree.set_node_acl("/", root.acl, root.stat);
    // Path order puts every parent before its children.
    for (path, (data, stat, acl)) in rest {
        let (parent, _) = path::split(&path);
        let parent_owner = tree.nodes.get(parent)?.stat.ephemeral_owner;
        let owner = stat.ephemeral_owner;
        if parent_owner != 0 || (owner != 0 && !tree.sessions.contains_key(&owner)) {
            return None;
        }
        tree.insert_node(path, Node::new(data, stat, acl));
    }
    let counts_ok = tree
        .nodes
        .values()
        .all(|n| n.stat.num_children >= 0 && n.stat.num_children as usize == n.children.len());
    counts_ok.then_some(tree)
}
