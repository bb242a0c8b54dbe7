//! ZooKeeper's own subtree, in every tree from the start: `/zookeeper` with
//! `quota` and `config`. No txn makes it (ZooKeeper's DataTree builds it
//! the same way), so the Stats read as ZooKeeper's do: the root's cversion
//! is -1 with one child, /zookeeper's -2 with two (creates x 2 - children,
//! no creates); `config` is readable by the world and writable by nobody,
//! its aversion -1. None of the three may be deleted (BadArguments).

use super::{DataTree, Node};
use crate::acl::{Acl, Id};
use crate::jute::perms;
use crate::proto::Stat;

pub const ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA: &str = "/zookeeper/quota";
pub const CONFIG: &str = "/zookeeper/config";

/// The root and ZooKeeper's nodes: never deleted.
pub fn is_system(path: &str) -> bool {
    matches!(path, "/" | ZOOKEEPER | QUOTA | CONFIG)
}

/// Adds the subtree to a tree holding only its root.
pub(super) fn add(tree: &mut DataTree) {
    let with = |cversion, num_children, aversion| Stat {
        cversion,
        num_children,
        aversion,
        ..Stat::default()
    };
    tree.set_stat("/", with(-1, 1, 0));
    let empty = || Some(Vec::new());
    let read_only = Some(Box::new(vec![Acl {
        perms: perms::READ,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]));
    let nodes = [
        (ZOOKEEPER, Node::new(empty(), with(-2, 2, 0), None)),
        (QUOTA, Node::new(empty(), with(0, 0, 0), None)),
        (CONFIG, Node::new(empty(), with(0, 0, -1), read_only)),
    ];
    for (path, node) in nodes {
        tree.insert_node(path.to_string(), node);
    }
}
