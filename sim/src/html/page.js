// zkstorm replay page: draws the run embedded in #data as an SVG
// space-time diagram. No network: everything is in this file.
"use strict";
window.onerror = (msg) => { document.body.dataset.error = String(msg); };

const D = JSON.parse(document.getElementById("data").textContent);
const NS = "http://www.w3.org/2000/svg";
const LEFT = 90, TOP = 70, LANE = 46, CLANE = 16, WIDTH = 1500;

function el(name, attrs, parent, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function tip(e, text) { el("title", {}, e, text); return e; }

// The offending ops: "client 1 op 157" in a failing check's reason.
function offending() {
  const out = new Set();
  for (const v of Object.values(D.checks)) {
    if (v.verdict !== "fail") continue;
    for (const m of v.reason.matchAll(/client (\d+) op (\d+)/g)) out.add(`${m[1]}:${m[2]}`);
  }
  return out;
}

function render(zoom) {
  const svgBox = document.getElementById("plot");
  svgBox.innerHTML = "";
  const end = Math.max(D.end_ms, 1);
  const w = WIDTH * zoom;
  const x = (t) => LEFT + (t / end) * w;
  const serverY = (sid) => TOP + (sid - 1) * LANE;
  const clientTop = TOP + D.servers * LANE + 30;
  const clientY = (c) => clientTop + c * CLANE;
  const height = clientTop + D.clients * CLANE + 40;
  const svg = el("svg", { width: LEFT + w + 40, height, xmlns: NS }, svgBox);
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: "arrow", markerWidth: 6, markerHeight: 6, refX: 5, refY: 3, orient: "auto" }, defs);
  el("path", { d: "M0,0 L6,3 L0,6 z", fill: "#7a8ca5" }, marker);

  // Time axis.
  const step = Math.max(1000, Math.pow(10, Math.floor(Math.log10(end / 10))));
  for (let t = 0; t <= end; t += step) {
    el("line", { x1: x(t), x2: x(t), y1: TOP - 30, y2: height - 30, stroke: "#eee" }, svg);
    el("text", { x: x(t) + 2, y: height - 16, "font-size": 10, fill: "#888" }, svg, `${(t / 1000).toFixed(1)}s`);
  }
  // Lanes.
  for (let s = 1; s <= D.servers; s++) {
    el("line", { x1: LEFT, x2: LEFT + w, y1: serverY(s), y2: serverY(s), stroke: "#333" }, svg);
    el("text", { x: 8, y: serverY(s) + 4, "font-size": 12 }, svg, `server ${s}`);
  }
  for (let c = 0; c < D.clients; c++) {
    el("text", { x: 8, y: clientY(c) + 4, "font-size": 10, fill: "#555" }, svg, `client ${c}`);
  }

  const recs = D.records;
  // Leader epochs as bands: until the leader goes down or looks again, or
  // the next epoch is established.
  const est = recs.filter((r) => r.kind === "established");
  const leaderEnd = (r) => {
    const over = recs.find((q) => q.t_ms >= r.t_ms && q.sid === r.sid &&
      ((q.kind === "node" && q.change !== "paused" && q.change !== "resumed") ||
       (q.kind === "zab" && String(q.what).startsWith("Looking"))));
    return over ? over.t_ms : end;
  };
  est.forEach((r, i) => {
    const next = i + 1 < est.length ? est[i + 1].t_ms : end;
    const until = Math.min(next, leaderEnd(r));
    const hue = (r.epoch * 67) % 360;
    tip(el("rect", { x: x(r.t_ms), y: serverY(r.sid) - 14, width: Math.max(1, x(until) - x(r.t_ms)), height: 28,
      fill: `hsla(${hue},70%,60%,0.25)` }, svg), `leader ${r.sid}, epoch ${r.epoch} from ${r.t_ms} ms`);
    el("text", { x: x(r.t_ms) + 2, y: serverY(r.sid) - 16, "font-size": 10, fill: `hsl(${hue},60%,35%)` }, svg, `epoch ${r.epoch}`);
  });
  // Down and paused stretches of each server.
  const open = {};
  for (const r of recs) {
    if (r.kind === "node") {
      const down = ["crashed", "crashed_torn", "killed", "power_lost"].includes(r.change) || (r.change && r.change.stopped);
      if (down || r.change === "paused") open[r.sid] = { t: r.t_ms, what: typeof r.change === "string" ? r.change : "stopped" };
      if (r.change === "resumed" && open[r.sid]) { band(r.sid, open[r.sid], r.t_ms); delete open[r.sid]; }
    }
    if (r.kind === "recovered" && open[r.sid]) { band(r.sid, open[r.sid], r.t_ms); delete open[r.sid]; }
  }
  for (const [sid, o] of Object.entries(open)) band(Number(sid), o, end);
  function band(sid, o, until) {
    const paused = o.what === "paused";
    tip(el("rect", { x: x(o.t), y: serverY(sid) - 6, width: Math.max(2, x(until) - x(o.t)), height: 12,
      fill: paused ? "#f2c94c" : "#555", opacity: 0.8 }, svg), `server ${sid} ${o.what} ${o.t}..${until} ms`);
  }
  // Fault timeline: one strip above the lanes, and the nodes each hit.
  D.faults.forEach((f, i) => {
    const until = f.until_ms > f.at_ms ? f.until_ms : f.at_ms + end / 300;
    const y = 14 + (i % 4) * 10;
    tip(el("rect", { x: x(f.at_ms), y, width: Math.max(2, x(until) - x(f.at_ms)), height: 8, fill: "#e06666", opacity: 0.7 }, svg),
      `fault[${f.index}] ${f.key} ${f.at_ms}..${until} ms: ${f.text}`);
    for (const sid of f.nodes) {
      el("rect", { x: x(f.at_ms), y: serverY(sid) - 18, width: Math.max(2, x(until) - x(f.at_ms)), height: 36,
        fill: "none", stroke: "#e06666", "stroke-dasharray": "3,2" }, svg);
    }
  });
  // Replication: proposal at the leader → delivery at each other server,
  // sampled to at most ~600 arrows.
  const proposed = new Map();
  for (const r of recs) if (r.kind === "proposed") proposed.set(r.zxid, r);
  // (Not re-deliveries from a log after a restart: those are not replication.)
  const dels = recs.filter((r) => r.kind === "delivered" && proposed.has(r.zxid) &&
    proposed.get(r.zxid).sid !== r.sid && r.t_ms - proposed.get(r.zxid).t_ms < 5000);
  const every = Math.max(1, Math.ceil(dels.length / 600));
  dels.forEach((r, i) => {
    if (i % every) return;
    const p = proposed.get(r.zxid);
    tip(el("line", { x1: x(p.t_ms), y1: serverY(p.sid), x2: x(r.t_ms), y2: serverY(r.sid), stroke: "#7a8ca5",
      "stroke-width": 0.6, "marker-end": "url(#arrow)" }, svg), `zxid ${r.zxid.toString(16)}: ${p.sid} → ${r.sid}`);
  });
  // Client operations, invoke to answer, coloured by outcome.
  const bad = offending();
  const inv = new Map();
  const listed = [];
  for (const r of recs) {
    if (r.kind === "invoke") inv.set(`${r.client}:${r.op}`, r);
    if (r.kind !== "complete") continue;
    const key = `${r.client}:${r.op}`;
    const i = inv.get(key);
    if (!i) continue;
    const hit = bad.has(key);
    const colour = hit ? "#d000d0" : r.outcome === "ok" ? "#3a9a5b" : ["ConnectionLoss", "OperationTimeout", "SessionExpired"].includes(r.outcome) ? "#d9534f" : "#f0ad4e";
    tip(el("rect", { x: x(i.t_ms), y: clientY(r.client) - (hit ? 5 : 3), width: Math.max(1.5, x(r.t_ms) - x(i.t_ms)), height: hit ? 10 : 6, fill: colour }, svg),
      `client ${r.client} op ${r.op} ${JSON.stringify(i.call)} → ${r.outcome} (${r.t_ms - i.t_ms} ms)`);
    if (hit) listed.push(`client ${r.client} op ${r.op}: ${JSON.stringify(i.call)} at ${i.t_ms} ms → ${r.outcome} ${JSON.stringify(r.ret)} at ${r.t_ms} ms`);
  }
  const list = document.getElementById("offending");
  list.innerHTML = "";
  for (const line of listed) { const li = document.createElement("li"); li.textContent = line; list.appendChild(li); }
  document.getElementById("offending-head").hidden = listed.length === 0;
}

function header() {
  document.getElementById("title").textContent = `${D.name} — seed ${D.seed}`;
  const t = document.getElementById("checks");
  for (const [name, v] of Object.entries(D.checks)) {
    const tr = document.createElement("tr");
    for (const [cls, text] of [["", name], [v.verdict, v.verdict.toUpperCase()], ["", v.reason]]) {
      const td = document.createElement("td"); td.className = cls; td.textContent = text; tr.appendChild(td);
    }
    t.appendChild(tr);
  }
  document.getElementById("replay").textContent = D.replay;
}

header();
render(1);
document.getElementById("zoom").addEventListener("input", (e) => render(Number(e.target.value)));
document.body.dataset.rendered = "ok";
