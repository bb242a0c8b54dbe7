//! The checks a topology passes at build and submit, each naming the
//! component it concerns. Cycles are allowed, as in Storm.

use super::grouping::Grouping;
use super::topology::{Component, Input, Kind, Problem, TopologyConfig};
use std::collections::BTreeMap;

pub(crate) fn problems(name: &str, list: &[Component], config: &TopologyConfig) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut say = |component: &str, message: String| {
        out.push(Problem {
            component: component.to_string(),
            message,
        })
    };
    if let Err(e) = check_name("topology name", name) {
        say("", e);
    }
    for e in config_problems(config) {
        say("", e);
    }
    let mut by_id: BTreeMap<&str, &Component> = BTreeMap::new();
    for c in list {
        if by_id.insert(&c.id, c).is_some() {
            say(&c.id, "the id is used by another component".into());
        }
        match check_name("component id", &c.id) {
            Err(e) if !c.system => say(&c.id, e),
            _ => {}
        }
        if c.system && config.acker_count() == 0 {
            say(
                &c.id,
                "exactly-once batches need ackers (ackers = 0 turns tracking off)".into(),
            );
        }
        if c.parallelism == 0 {
            say(&c.id, "parallelism must be at least 1".into());
        }
        if c.max_spout_pending == Some(0) {
            say(&c.id, "max_spout_pending must be at least 1".into());
        }
        if c.tick_every == Some(std::time::Duration::ZERO) {
            say(&c.id, "tick_every must be positive".into());
        }
        if c.cost.is_zero() {
            say(
                &c.id,
                "cost must be positive (simulated time per tuple)".into(),
            );
        }
        for e in c.declare_errors() {
            say(&c.id, e.clone());
        }
    }
    if !list.iter().any(|c| matches!(c.kind, Kind::Spout(_))) {
        say("", "a topology needs at least one spout".into());
    }
    for c in list {
        let mut seen = Vec::new();
        for input in &c.inputs {
            let key = (&input.source, &input.stream);
            if seen.contains(&key) {
                say(
                    &c.id,
                    format!(
                        "subscribes to stream {:?} of {:?} twice",
                        input.stream, input.source
                    ),
                );
            }
            seen.push(key);
            if let Err(e) = check_input(input, &by_id) {
                say(&c.id, e);
            }
        }
    }
    out
}

/// Ids become znode path segments and must stay readable in traces.
fn check_name(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if s.starts_with("__") {
        return Err(format!(
            "the {what} {s:?} starts with \"__\", which is reserved"
        ));
    }
    if let Some(ch) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(*c)))
    {
        return Err(format!(
            "the {what} {s:?} has {ch:?}; use letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

fn config_problems(c: &TopologyConfig) -> Vec<String> {
    let mut out = Vec::new();
    if c.workers == 0 {
        out.push("workers must be at least 1".into());
    }
    if c.message_timeout.is_zero() {
        out.push("message_timeout must be positive".into());
    }
    if c.max_spout_pending == Some(0) {
        out.push("max_spout_pending must be at least 1".into());
    }
    if c.tick_every == Some(std::time::Duration::ZERO) {
        out.push("tick_every must be positive".into());
    }
    if c.queue_capacity == 0 {
        out.push("queue_capacity must be at least 1".into());
    }
    if let Err(e) = check_connect_string(&c.zookeeper) {
        out.push(format!("zookeeper {:?}: {e}", c.zookeeper));
    }
    out
}

/// `host:port[,host:port...][/chroot]`, as ZooKeeper clients take it.
pub fn check_connect_string(s: &str) -> Result<(), String> {
    let (hosts, chroot) = match s.find('/') {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    if hosts.is_empty() {
        return Err("names no server".into());
    }
    for h in hosts.split(',') {
        let (host, port) = h
            .rsplit_once(':')
            .ok_or_else(|| format!("{h:?} is not host:port"))?;
        if host.is_empty() {
            return Err(format!("{h:?} has no host"));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("{h:?} has no valid port")),
        }
    }
    if let Some(root) = chroot {
        if root.len() > 1 && root.ends_with('/') || root.contains("//") {
            return Err(format!("chroot {root:?} is not a valid path"));
        }
    }
    Ok(())
}

fn check_input(input: &Input, by_id: &BTreeMap<&str, &Component>) -> Result<(), String> {
    let (src, stream) = (&input.source, &input.stream);
    let source = by_id
        .get(src.as_str())
        .ok_or_else(|| format!("subscribes to unknown component {src:?}"))?;
    let decl = source.streams.get(stream).ok_or_else(|| {
        let known: Vec<&String> = source.streams.keys().collect();
        format!("subscribes to stream {stream:?} of {src:?}, which declares only {known:?}")
    })?;
    match &input.grouping {
        Grouping::Direct if !decl.direct => Err(format!(
            "uses direct grouping on stream {stream:?} of {src:?}, which is not declared direct"
        )),
        g if decl.direct && *g != Grouping::Direct => Err(format!(
            "subscribes to direct stream {stream:?} of {src:?} with {g:?} grouping; only direct grouping reads it"
        )),
        Grouping::Fields(names) | Grouping::PartialKey(names) => {
            if names.is_empty() {
                return Err(format!("groups stream {stream:?} of {src:?} by no fields"));
            }
            match names.iter().find(|n| !decl.fields.contains(n)) {
                Some(n) => Err(format!(
                    "groups by field {n:?}, which stream {stream:?} of {src:?} does not declare (it declares {:?})",
                    decl.fields
                )),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
