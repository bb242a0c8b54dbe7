//! A scenario written back as a file that parses to the same scenario.

use super::duration::format as d;
use super::fault::{float, quote};
use super::schema::*;
use std::fmt::Write;

pub(crate) fn to_toml(s: &Scenario) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "name = {}", quote(&s.name));
    if !s.about.is_empty() {
        let _ = writeln!(o, "about = {}", quote(&s.about));
    }
    let _ = writeln!(o, "duration = \"{}\"", d(s.duration));
    if !s.bugs.is_empty() {
        let names: Vec<String> = s.bugs.iter().map(|b| quote(b)).collect();
        let _ = writeln!(o, "bugs = [{}]", names.join(", "));
    }
    let _ = writeln!(o, "settle = \"{}\"", d(s.settle));
    let e = &s.ensemble;
    let _ = writeln!(
        o,
        "\n[ensemble]\nservers = {}\ntick = \"{}\"\ninit_limit = {}\nsync_limit = {}\nsnap_count = {}",
        e.servers,
        d(e.tick),
        e.init_limit,
        e.sync_limit,
        e.snap_count
    );
    let w = &s.workload;
    let mix: Vec<String> = crate::workload::MIX_KEYS
        .iter()
        .zip(w.mix)
        .map(|(k, x)| format!("{k} = {x}"))
        .chain([format!("ephemeral = {}", w.ephemeral)])
        .collect();
    let _ = writeln!(
        o,
        "\n[workload]\nclients = {}\nrate = {}\npipeline = {}\nconditional = {}\nkeys = {}\n\
         value_bytes = {}\nmix = {{ {} }}\nsession_timeout = \"{}\"",
        w.clients,
        float(w.rate),
        w.pipeline,
        w.conditional,
        w.keys,
        w.value_bytes,
        mix.join(", "),
        d(w.session_timeout)
    );
    let n = &s.network;
    let _ = writeln!(
        o,
        "\n[network]\nlatency = [\"{}\", \"{}\"]\npacket_loss = {}",
        d(n.latency.0),
        d(n.latency.1),
        float(n.packet_loss)
    );
    let k = &s.disk;
    let _ = writeln!(
        o,
        "\n[disk]\nfsync_latency = [\"{}\", \"{}\"]\ntear_probability = {}\ngarbage_probability = {}",
        d(k.fsync_latency.0),
        d(k.fsync_latency.1),
        float(k.tear_probability),
        float(k.garbage_probability)
    );
    if let Some(t) = &s.topology {
        super::topology::render(t, &mut o);
    }
    for f in &s.faults {
        let _ = writeln!(o, "\n[[fault]]\nat = \"{}\"", d(f.at));
        let body = format!("{} = {}", f.action.key(), f.action.fault().render());
        let _ = writeln!(o, "{body}");
        if let Some(u) = f.until {
            let _ = writeln!(o, "until = \"{}\"", d(u));
        }
    }
    let c = &s.check;
    let _ = writeln!(
        o,
        "\n[check]\nzab = {}\nclient = {}\nlinearizable = {}",
        c.zab, c.client, c.linearizable
    );
    if c.linearizable_steps != crate::check::STEP_LIMIT {
        let _ = writeln!(o, "linearizable_steps = {}", c.linearizable_steps);
    }
    if let Some(l) = c.liveness {
        let _ = writeln!(o, "liveness = \"{}\"", d(l));
    }
    if s.topology.is_some() {
        let _ = writeln!(o, "storm = {}", c.storm);
    }
    o
}
