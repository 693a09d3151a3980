// The admin status page: GET /v1/status every second, rates from the differences, three small
// SVG charts (the last two minutes) and tables. No dependencies. With an admin token the page
// asks for it once (kept in sessionStorage, sent as a bearer token; `#token=...` also works).
"use strict";
const HISTORY = 120;
const series = { pps: [], bps: [], dps: [] };
let last = null;
let token = sessionStorage.getItem("relay-token") || "";
const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (m) {
  token = decodeURIComponent(m[1]);
  sessionStorage.setItem("relay-token", token);
  history.replaceState(null, "", location.pathname);
}
const $ = (id) => document.getElementById(id);
const fmt = (n) =>
  n >= 1e9
    ? (n / 1e9).toFixed(2) + " G"
    : n >= 1e6
      ? (n / 1e6).toFixed(2) + " M"
      : n >= 1e4
        ? (n / 1e3).toFixed(1) + " k"
        : String(Math.round(n));
const cell = (text, numeric) => {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "n";
  return td;
};
const fill = (id, rows) => {
  const body = $(id).tBodies[0];
  if (rows.length === 0) {
    const td = cell("none");
    td.colSpan = $(id).tHead.rows[0].cells.length;
    td.className = "none";
    return body.replaceChildren(
      Object.assign(document.createElement("tr"), { className: "empty" }).appendChild(td).parentNode,
    );
  }
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      if (r.key !== undefined) tr.dataset.key = r.key;
      tr.append(...r.cells.map(([t, n, cls]) => Object.assign(cell(t, n), cls ? { className: cls } : {})));
      return tr;
    }),
  );
};
const draw = (name) => {
  const s = series[name];
  const max = Math.max(1, ...s);
  const pts = s.map((v, i) => `${(i * 120) / (HISTORY - 1)},${40 - (v / max) * 38}`).join(" ");
  $(`chart-${name}`).innerHTML = `<polyline points="${pts}"></polyline>`;
  $(`rate-${name}`).textContent = fmt(s.at(-1) ?? 0);
};
function totals(st) {
  let packets = 0,
    bytes = 0,
    drops = 0;
  for (const c of st.clients) {
    packets += c.packets.in + c.packets.out;
    bytes += c.bytes.in + c.bytes.out;
  }
  for (const n of Object.values(st.drops)) drops += n;
  return { packets, bytes, drops, at: performance.now() };
}
function render(st) {
  const state = $("state");
  state.textContent = st.state;
  state.className = "state " + (st.state === "ready" ? "ready" : "bad");
  const c = st.counts;
  $("summary").textContent =
    `node ${st.node} · up ${st.uptimeSeconds} s · ${st.clients.length} clients · ${st.listeners.map((l) => "udp " + l.name).join(", ")} · nat ${c.natBindings} · relay ${c.relayAllocations} · tcp ${c.tcpFlows} · anytun-relay ${st.version}`;
  const t = totals(st);
  if (last !== null) {
    const dt = Math.max(0.001, (t.at - last.at) / 1000);
    for (const [k, v] of [
      ["pps", (t.packets - last.packets) / dt],
      ["bps", (t.bytes - last.bytes) / dt],
      ["dps", (t.drops - last.drops) / dt],
    ]) {
      series[k].push(Math.max(0, v));
      if (series[k].length > HISTORY) series[k].shift();
    }
  }
  last = t;
  for (const k of Object.keys(series)) draw(k);
  fill(
    "clients",
    st.clients.map((x) => ({
      key: x.mux,
      cells: [
        [x.name],
        [String(x.mux), true],
        [x.endpoint ? `${x.endpoint} (${x.via})` : "—"],
        [x.lastSeenSecondsAgo === null ? "never" : `${x.lastSeenSecondsAgo} s ago`],
        [String(x.packets.in), true, "n packets-in"],
        [String(x.packets.out), true, "n packets-out"],
        [String(x.bytes.in), true, "n bytes-in"],
        [String(x.bytes.out), true, "n bytes-out"],
        [String(x.movedIn), true],
      ],
    })),
  );
  fill(
    "peers",
    st.peers.map((p) => ({
      cells: [
        [p.address],
        [p.node === null ? "—" : String(p.node), true],
        [p.state],
        [p.lagSeconds === null ? "—" : `${p.lagSeconds} s ago`],
        [p.rttMs === null ? "—" : `${p.rttMs} ms`, true],
      ],
    })),
  );
  fill(
    "drops",
    Object.entries(st.drops).map(([k, n]) => ({ key: k, cells: [[k], [String(n), true]] })),
  );
  document.body.dataset.updated = String(Date.now());
}
async function tick() {
  try {
    const r = await fetch("/v1/status", { headers: token ? { Authorization: "Bearer " + token } : {} });
    if (r.status === 401) {
      $("login").hidden = false;
      $("summary").textContent = "this relay needs its admin token";
      return;
    }
    render(await r.json());
  } catch (e) {
    $("summary").textContent = "cannot reach the relay: " + e;
  }
}
$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value;
  sessionStorage.setItem("relay-token", token);
  $("login").hidden = true;
  tick();
});
tick();
setInterval(tick, 1000);
