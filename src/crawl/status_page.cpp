#include "crawl/status_page.hpp"

#include "base/html_escape.hpp"

namespace fetchpool::detail {
namespace {

// Element ids (v-*) are what tests and scripts read: each holds one number,
// written as status.json has it (integers plain, rates to one decimal).
constexpr std::string_view kHead = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>)HTML";

constexpr std::string_view kBody = R"HTML(</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .3em} h2{font-size:1.05em;margin:1.2em 0 .4em}
.cards{display:flex;flex-wrap:wrap;gap:.6em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5em .8em;min-width:7.5em}
.card b{display:block;font-size:1.35em}
.bar{height:14px;background:#e4e4e4;border-radius:7px;overflow:hidden;margin:.6em 0}
.bar div{height:100%;background:#3a7bd5;width:0}
table{border-collapse:collapse;background:#fff} td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}
td.n{text-align:right} svg{background:#fff;border:1px solid #ddd}
.muted{color:#777}
</style></head><body>
<h1 id="title"></h1>
<div class="muted"><span id="state"></span> &middot; <span id="v-elapsed"></span> s elapsed &middot; updated every second</div>
<div class="bar"><div id="progress"></div></div>
<h2>This node</h2>
<div class="cards">
<div class="card">done<b id="v-done"></b></div>
<div class="card">ok<b id="v-ok"></b></div>
<div class="card">failed<b id="v-failed"></b></div>
<div class="card">skipped<b id="v-skipped"></b></div>
<div class="card">pages/s<b id="v-rate"></b></div>
<div class="card">KiB/s<b id="v-kib-rate"></b></div>
<div class="card">retries<b id="v-retries"></b></div>
<div class="card">ETA s<b id="v-eta"></b></div>
<div class="card">p50 ms<b id="v-p50"></b></div>
<div class="card">p95 ms<b id="v-p95"></b></div>
<div class="card">p99 ms<b id="v-p99"></b></div>
</div>
<h2 id="crawl-title">Frontier</h2>
<div class="cards">
<div class="card">queued<b id="v-queued"></b></div>
<div class="card">in flight<b id="v-in-flight"></b></div>
<div class="card">delayed<b id="v-delayed"></b></div>
<div class="card">hosts<b id="v-hosts"></b></div>
<div class="card">URLs seen<b id="v-seen"></b></div>
</div>
<h2>Throughput (pages/s)</h2>
<svg id="throughput" width="640" height="160" role="img" aria-label="pages per second over time"></svg>
<h2>Latency</h2>
<svg id="latency" width="640" height="160" role="img" aria-label="latency histogram"></svg>
<h2>In flight (longest first)</h2>
<table><thead><tr><th>URL</th><th>s</th></tr></thead><tbody id="in-flight"></tbody></table>
<h2>Busiest host queues</h2>
<table><thead><tr><th>host</th><th>queued</th><th>in flight</th></tr></thead><tbody id="hosts"></tbody></table>
<h2>Errors by class</h2>
<table><thead><tr><th>class</th><th>count</th></tr></thead><tbody id="errors"></tbody></table>
<script id="initial" type="application/json">)HTML";

constexpr std::string_view kScript = R"HTML(</script>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const int = (v) => (v === null || v === undefined) ? "-" : String(Math.round(v));
const one = (v) => (v === null || v === undefined) ? "-" : v.toFixed(1);
const NS = "http://www.w3.org/2000/svg";
function svgEl(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function rows(body, list) {
  body.replaceChildren(...list.map((cells) => {
    const tr = document.createElement("tr");
    cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; if (i) td.className = "n"; tr.appendChild(td); });
    return tr;
  }));
}
function throughput(svg, history) {
  const w = 640, h = 160, pad = 24, pts = [];
  for (let i = 1; i < history.length; i++) {
    const dt = history[i].t_s - history[i - 1].t_s;
    if (dt > 0) pts.push([history[i].t_s, (history[i].done - history[i - 1].done) / dt]);
  }
  const kids = [];
  const maxY = Math.max(1, ...pts.map((p) => p[1]));
  const t0 = history.length ? history[0].t_s : 0, t1 = history.length ? history[history.length - 1].t_s : 1;
  const x = (t) => pad + (w - 2 * pad) * (t1 > t0 ? (t - t0) / (t1 - t0) : 0);
  const y = (v) => h - pad - (h - 2 * pad) * v / maxY;
  kids.push(svgEl("line", {x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: "#999"}));
  kids.push(svgEl("text", {x: 2, y: pad - 8, "font-size": 11}, maxY.toFixed(1) + "/s"));
  if (pts.length) kids.push(svgEl("polyline", {fill: "none", stroke: "#3a7bd5", "stroke-width": 2,
    points: pts.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ")}));
  svg.replaceChildren(...kids);
}
function latency(svg, buckets) {
  const w = 640, h = 160, pad = 24, n = buckets.length, bw = (w - 2 * pad) / n;
  const maxC = Math.max(1, ...buckets.map((b) => b.count));
  const kids = [];
  buckets.forEach((b, i) => {
    const bh = (h - 2 * pad) * b.count / maxC;
    kids.push(svgEl("rect", {x: pad + i * bw + 1, y: h - pad - bh, width: bw - 2, height: bh, fill: "#3a7bd5",
      "data-count": b.count}));
    const label = b.le_s === null ? "more" : (b.le_s < 1 ? (b.le_s * 1000) + "ms" : b.le_s + "s");
    kids.push(svgEl("text", {x: pad + i * bw + 2, y: h - 8, "font-size": 10}, label));
  });
  svg.replaceChildren(...kids);
}
function render(s) {
  const n = s.node, c = s.crawl;
  $("title").textContent = s.label + " status";
  $("state").textContent = c.finished ? "finished" : "running";
  $("v-elapsed").textContent = int(s.elapsed_s);
  $("v-done").textContent = int(n.done);
  $("v-ok").textContent = int(n.ok);
  $("v-failed").textContent = int(n.failed);
  $("v-skipped").textContent = int(n.skipped);
  $("v-retries").textContent = int(n.retries);
  $("v-rate").textContent = one(n.pages_per_s);
  $("v-kib-rate").textContent = one(n.bytes_per_s / 1024);
  $("v-eta").textContent = int(s.eta_s);
  $("v-p50").textContent = one(n.latency_ms.p50);
  $("v-p95").textContent = one(n.latency_ms.p95);
  $("v-p99").textContent = one(n.latency_ms.p99);
  $("crawl-title").textContent = c.shared ? "Whole crawl (shared frontier)" : "Frontier";
  $("v-queued").textContent = int(c.queued);
  $("v-in-flight").textContent = int(c.in_flight);
  $("v-delayed").textContent = int(c.delayed);
  $("v-hosts").textContent = int(c.hosts);
  $("v-seen").textContent = int(c.seen);
  const whole = n.done + s.remaining;
  $("progress").style.width = (whole > 0 ? 100 * n.done / whole : 0).toFixed(1) + "%";
  rows($("in-flight"), s.in_flight.map((u) => [u.url, one(u.elapsed_s)]));
  rows($("hosts"), s.hosts.map((h) => [h.host, int(h.queued), int(h.in_flight)]));
  rows($("errors"), Object.entries(n.errors).map(([k, v]) => [k, int(v)]));
  throughput($("throughput"), s.history);
  latency($("latency"), s.latency_histogram);
}
render(JSON.parse($("initial").textContent));
const token = new URLSearchParams(location.search).get("token");
const source = "status.json" + (token ? "?token=" + encodeURIComponent(token) : "");
setInterval(() => {
  fetch(source, {cache: "no-store"}).then((r) => r.ok ? r.json() : null).then((s) => { if (s) render(s); })
    .catch(() => { $("state").textContent = "not reachable (run ended?)"; });
}, 1000);
</script></body></html>
)HTML";

}  // namespace

std::string render_status_page(std::string_view label, std::string_view status_json) {
  std::string page;
  page.reserve(kHead.size() + kBody.size() + kScript.size() + status_json.size() + 64);
  page += kHead;
  page += escape_html(label);
  page += kBody;
  // Inside <script> only "</" could end the element early: JSON allows "<"
  // to be written as \u003c.
  for (const char c : status_json) {
    if (c == '<') {
      page += "\\u003c";
    } else {
      page += c;
    }
  }
  page += kScript;
  return page;
}

}  // namespace fetchpool::detail
