//! `zkstorm replay --html`: one self-contained page (no network fetches)
//! with a space-time diagram of a run — a lane per server, leader epochs as
//! bands, crashes and pauses, the fault timeline, proposal → delivery arrows
//! (sampled when dense), client operations with their latency, and for a
//! failing check the operations it names, highlighted and listed. The run's
//! records are embedded as JSON; `page.js` draws them.

use crate::scenario::{RunReport, Scenario};
use serde_json::json;

const STYLE: &str = "body{font-family:sans-serif;margin:16px;color:#222}\
table{border-collapse:collapse;font-size:12px;margin:8px 0}\
td{padding:2px 8px;border-bottom:1px solid #eee;vertical-align:top}\
td.pass{color:#3a9a5b}td.fail{color:#d9534f;font-weight:bold}td.undecided,td.inconclusive{color:#f0ad4e}\
#plot{overflow-x:auto;border:1px solid #ddd}code{background:#f5f5f5;padding:2px 4px}\
.legend span{display:inline-block;margin-right:14px;font-size:12px}\
.legend i{display:inline-block;width:14px;height:8px;margin-right:4px}";

const LEGEND: &str = r##"<div class="legend">
<span><i style="background:hsla(67,70%,60%,.4)"></i>leader epoch</span>
<span><i style="background:#555"></i>down</span>
<span><i style="background:#f2c94c"></i>paused</span>
<span><i style="background:#e06666"></i>fault (dashed: nodes it hit)</span>
<span><i style="background:#7a8ca5"></i>proposal → delivery</span>
<span><i style="background:#3a9a5b"></i>op ok</span>
<span><i style="background:#f0ad4e"></i>op error</span>
<span><i style="background:#d9534f"></i>op lost</span>
<span><i style="background:#d000d0"></i>op a failing check names</span>
</div>"##;

/// The page for `report`, a run of `sc` on `seed`.
pub fn page(sc: &Scenario, report: &RunReport, seed: u64, replay: &str) -> String {
    let records = report.history.records();
    let end_ms = records.last().map_or(0, |r| r.t_ms);
    let checks: serde_json::Map<String, serde_json::Value> = report
        .checks
        .iter()
        .map(|(name, v)| {
            let verdict = v.label();
            (
                name.clone(),
                json!({"verdict": verdict, "reason": v.reason().unwrap_or("")}),
            )
        })
        .collect();
    let faults: Vec<serde_json::Value> = sc
        .faults
        .iter()
        .map(|f| {
            let nodes: Vec<u64> = report
                .resolved
                .get(&f.index)
                .map(|g| g.iter().flatten().copied().collect())
                .unwrap_or_default();
            json!({
                "index": f.index,
                "key": f.action.key(),
                "at_ms": f.at.as_millis() as u64,
                "until_ms": f.end(&sc.workload).as_millis() as u64,
                "nodes": nodes,
                "text": format!("{} = {}", f.action.key(), f.action.fault().render()),
            })
        })
        .collect();
    let data = json!({
        "name": sc.name,
        "seed": seed,
        "servers": sc.ensemble.servers,
        "clients": sc.workload.clients,
        "end_ms": end_ms,
        "checks": checks,
        "faults": faults,
        "records": records,
        "replay": replay,
    });
    // Inside <script>, "</" would end the element.
    let data = data.to_string().replace("</", "<\\/");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head>\n<body>\n<h2 id=\"title\"></h2>\
         <p>Replay: <code id=\"replay\"></code></p>\n<table id=\"checks\"></table>\n{LEGEND}\
         <p>Zoom <input id=\"zoom\" type=\"range\" min=\"1\" max=\"20\" step=\"1\" value=\"1\"></p>\
         <div id=\"plot\"></div>\n<h3 id=\"offending-head\" hidden>Operations a failing check names</h3>\
         <ul id=\"offending\"></ul>\n<script type=\"application/json\" id=\"data\">{data}</script>\n\
         <script>{js}</script>\n</body></html>\n",
        title = escape(&format!("{} seed {seed}", sc.name)),
        js = include_str!("page.js"),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
