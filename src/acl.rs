//! ZooKeeper's access control, sans-IO: the identities a session holds,
//! the digest scheme's ids, which ACLs allow what, and the ACL a create or
//! setACL stores (the `auth` scheme stands for the session's own ids).

use crate::jute::perms;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// An identity: `world:anyone`, `digest:user:hash`, `ip:10.0.0.1`, ...
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Acl {
    /// `perms` bits (see `jute::perms`).
    pub perms: i32,
    pub id: Id,
}

/// A znode's ACL as the tree keeps it: `None` is the open ACL
/// (world:anyone, every permission), which nearly every node has; one
/// form for it, so replicas and snapshots agree byte for byte. Boxed: it
/// rides in every create, and a pointer keeps the messages that carry
/// writes small (they are moved through channels by value).
pub type NodeAcl = Option<Box<Vec<Acl>>>;

/// The stored form of `acl`: `None` when it is the open ACL.
pub fn canonical(acl: Vec<Acl>) -> NodeAcl {
    (acl != open()).then(|| Box::new(acl))
}

/// What a node will store for a request's `acl`, from a connection
/// holding `ids` (`auth` stands for them): InvalidACL if it cannot.
pub fn stored(acl: &[Acl], ids: &[Id]) -> Result<NodeAcl, crate::proto::ErrorCode> {
    to_store(acl, ids)
        .map(canonical)
        .map_err(|_| crate::proto::ErrorCode::InvalidAcl)
}

/// The ACL a node reports.
pub fn expand(acl: &NodeAcl) -> Vec<Acl> {
    acl.as_deref().cloned().unwrap_or_else(open)
}

/// `allows` on a node's stored ACL.
pub fn node_allows(acl: &NodeAcl, perm: i32, ids: &[Id]) -> bool {
    match acl {
        None => true,
        Some(acl) => allows(acl, perm, ids),
    }
}

/// `world:anyone` with every permission (ZooKeeper's OPEN_ACL_UNSAFE).
pub fn open() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: id("world", "anyone"),
    }]
}

pub fn id(scheme: &str, id: &str) -> Id {
    Id {
        scheme: scheme.into(),
        id: id.into(),
    }
}

/// The digest scheme's id for `user:password`: `user:` then the base64 of
/// the SHA-1 of the whole `user:password` (what ZooKeeper stores and
/// compares). The user is what comes before the first colon.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password
        .split_once(':')
        .map_or(user_password, |(u, _)| u);
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// What an `auth` packet adds to a session: `Some(id)` for the digest
/// scheme, `None` for a scheme we do not know (ZooKeeper answers
/// AuthFailed and closes the connection).
pub fn authenticate(scheme: &str, auth: &[u8]) -> Option<Id> {
    match scheme {
        "digest" => {
            let text = std::str::from_utf8(auth).ok()?;
            text.contains(':').then(|| id("digest", &digest_id(text)))
        }
        _ => None,
    }
}

/// Does `acl` grant `perm` to a session holding `ids`? `world:anyone`
/// matches everyone; other ids match when the session holds them exactly
/// (`ip:` also by CIDR prefix, `ip:10.0.0.0/8`).
pub fn allows(acl: &[Acl], perm: i32, ids: &[Id]) -> bool {
    acl.iter().any(|a| {
        a.perms & perm != 0
            && (a.id == id("world", "anyone") || ids.iter().any(|held| matches(&a.id, held)))
    })
}

fn matches(want: &Id, held: &Id) -> bool {
    if want.scheme != held.scheme {
        return false;
    }
    if want.scheme == "ip" {
        return ip_matches(&want.id, &held.id);
    }
    want.id == held.id
}

fn ip_matches(pattern: &str, addr: &str) -> bool {
    let (net, bits) = match pattern.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().unwrap_or(33)),
        None => (pattern, 32),
    };
    let (Ok(net), Ok(addr)) = (
        net.parse::<std::net::Ipv4Addr>(),
        addr.parse::<std::net::Ipv4Addr>(),
    ) else {
        return pattern == addr;
    };
    if bits > 32 {
        return false;
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(net) & mask == u32::from(addr) & mask
}

/// Why an ACL cannot be stored (ZooKeeper's InvalidACL, -114).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidAcl(pub String);

/// The ACL to store for a create or setACL by a session holding `ids`:
/// `auth` entries become one entry per digest id the session holds (none:
/// invalid), `digest` ids must read `user:hash`, `ip` ids an address or a
/// CIDR; an empty list or an unknown scheme is invalid.
pub fn to_store(acl: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, InvalidAcl> {
    if acl.is_empty() {
        return Err(InvalidAcl("an empty ACL".into()));
    }
    let mut out = Vec::new();
    for a in acl {
        if a.perms & !perms::ALL != 0 {
            return Err(InvalidAcl(format!("perms {:#x}", a.perms)));
        }
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => out.push(a.clone()),
            "auth" => {
                let mine: Vec<&Id> = ids.iter().filter(|i| i.scheme == "digest").collect();
                if mine.is_empty() {
                    return Err(InvalidAcl("auth scheme without an authenticated id".into()));
                }
                out.extend(mine.into_iter().map(|i| Acl {
                    perms: a.perms,
                    id: i.clone(),
                }));
            }
            "digest"
                if a.id
                    .id
                    .split_once(':')
                    .is_some_and(|(u, h)| !u.is_empty() && !h.is_empty()) =>
            {
                out.push(a.clone())
            }
            "ip" if valid_ip_pattern(&a.id.id) => out.push(a.clone()),
            _ => return Err(InvalidAcl(format!("{}:{}", a.id.scheme, a.id.id))),
        }
    }
    out.dedup();
    Ok(out)
}

fn valid_ip_pattern(p: &str) -> bool {
    let (net, bits) = match p.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok().filter(|b| *b <= 32)),
        None => (p, Some(32)),
    };
    bits.is_some() && net.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(perms: i32, scheme: &str, i: &str) -> Acl {
        Acl {
            perms,
            id: id(scheme, i),
        }
    }

    #[test]
    fn digest_ids_are_zookeepers() {
        // Computed apart with Python's hashlib: base64(sha1(b"user:password")).
        assert_eq!(
            digest_id("user:password"),
            "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
        );
        assert_eq!(
            authenticate("digest", b"user:password"),
            Some(id("digest", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="))
        );
        assert_eq!(authenticate("digest", b"no-colon"), None);
        assert_eq!(authenticate("kerberos", b"x:y"), None);
    }

    #[test]
    fn acls_grant_by_permission_and_identity() {
        let alice = id("digest", &digest_id("alice:pw"));
        let stored = vec![
            acl(perms::READ, "world", "anyone"),
            acl(perms::ALL, "digest", &alice.id),
            acl(perms::WRITE, "ip", "10.0.0.0/8"),
        ];
        assert!(allows(&stored, perms::READ, &[]));
        assert!(!allows(&stored, perms::DELETE, &[]));
        assert!(allows(&stored, perms::DELETE, std::slice::from_ref(&alice)));
        let bob = id("digest", &digest_id("bob:pw"));
        assert!(!allows(&stored, perms::ADMIN, &[bob]));
        assert!(allows(&stored, perms::WRITE, &[id("ip", "10.1.2.3")]));
        assert!(!allows(&stored, perms::WRITE, &[id("ip", "11.1.2.3")]));
    }

    #[test]
    fn stored_acls_expand_auth_and_refuse_what_is_invalid() {
        let alice = id("digest", &digest_id("alice:pw"));
        let got = to_store(
            &[acl(perms::ALL, "auth", "")],
            &[id("ip", "10.0.0.1"), alice.clone()],
        )
        .unwrap();
        assert_eq!(
            got,
            vec![Acl {
                perms: perms::ALL,
                id: alice
            }]
        );
        assert!(
            to_store(&[acl(perms::ALL, "auth", "")], &[]).is_err(),
            "nobody to stand for"
        );
        assert!(to_store(&[], &[]).is_err());
        assert!(to_store(&[acl(perms::ALL, "sasl", "x")], &[]).is_err());
        assert!(to_store(&[acl(perms::ALL, "digest", "nohash")], &[]).is_err());
        assert!(to_store(&[acl(64, "world", "anyone")], &[]).is_err());
        assert!(to_store(&[acl(perms::READ, "ip", "10.0.0.0/40")], &[]).is_err());
        assert_eq!(to_store(&open(), &[]).unwrap(), open());
    }
}
