// The dashboard: polls GET /stats every second and charts, over the last minutes, live
// connections, sessions per project, TURN allocations, and relayed bandwidth (bytes/s and
// packets/s, from the deltas of the relay counters); plus version, uptime and TLS expiry.

import * as api from "./api.js";
import { h, field, option, duration, bytes, when } from "./ui.js";
import { lineChart } from "./chart.js";

const KEEP_SECS = 15 * 60;

export default async function dashboard(root) {
  const windowSel = h("select", {}, option("300", "5 minutes", true), option("600", "10 minutes"), option("900", "15 minutes"));
  const status = h("p", { class: "error", role: "alert" });
  const facts = h("dl", { class: "facts" });
  const charts = {
    conns: lineChart("Connections", ["connections", "signaling sessions"]),
    projects: lineChart("Sessions per project", [], { named: true }),
    allocs: lineChart("TURN allocations", ["allocations"]),
    bps: lineChart("Relayed bandwidth", ["bytes/s"], { format: (v) => bytes(v) + "/s" }),
    pps: lineChart("Relayed packets", ["packets/s"], { format: (v) => Math.round(v) + "/s" }),
  };
  root.append(
    h("h1", {}, "Dashboard"),
    facts,
    h("div", { class: "toolbar" }, field("Chart the last", windowSel)),
    status,
    h("div", { class: "charts" }, Object.values(charts).map((c) => c.el)),
  );

  const samples = [];
  let projectIds = [];
  let projectNames = {};
  let timer = null;
  let stopped = false;
  let health = null;
  let tlsInfo = null;

  function fact(dt, dd) {
    return [h("dt", {}, dt), h("dd", {}, dd)];
  }

  function renderFacts(stats) {
    const tlsLeft = tlsInfo ? Math.floor((tlsInfo.not_after - Date.now() / 1000) / 86400) : null;
    facts.replaceChildren(
      ...fact("Version", health ? health.version : "—"),
      ...fact("Uptime", stats ? duration(stats.uptime_secs) : "—"),
      ...fact("TLS certificate expires", tlsInfo ? `${when(tlsInfo.not_after)} (${tlsLeft} days)` : "—"),
      ...fact("Connections now", stats ? String(stats.connections) : "—"),
      ...fact("Relayed in total", stats ? bytes(stats.relayed_bytes) : "—"),
    );
  }

  function draw() {
    const span = Number(windowSel.value);
    const now = Date.now() / 1000;
    const shown = samples.filter((s) => s.t >= now - span);
    const xs = shown.map((s) => s.t);
    // The whole window is drawn: the history starts when this page opened.
    const range = [now - span, now];
    charts.conns.update(xs, [shown.map((s) => s.connections), shown.map((s) => s.sessions)], range);
    charts.allocs.update(xs, [shown.map((s) => s.allocations)], range);
    charts.bps.update(xs, [shown.map((s) => s.bps)], range);
    charts.pps.update(xs, [shown.map((s) => s.pps)], range);
    charts.projects.update(xs, projectIds.map((id) => shown.map((s) => s.perProject[id] ?? 0)), range);
  }

  async function poll() {
    if (stopped) return;
    try {
      const stats = await api.get("/stats");
      const t = Date.now() / 1000;
      const prev = samples[samples.length - 1];
      const dt = prev ? t - prev.t : 0;
      samples.push({
        t,
        connections: stats.connections,
        sessions: stats.sessions,
        allocations: stats.allocations,
        perProject: stats.sessions_per_project || {},
        rawBytes: stats.relayed_bytes,
        rawPackets: stats.relayed_packets,
        bps: prev && dt > 0 ? Math.max(0, (stats.relayed_bytes - prev.rawBytes) / dt) : null,
        pps: prev && dt > 0 ? Math.max(0, (stats.relayed_packets - prev.rawPackets) / dt) : null,
      });
      while (samples.length && samples[0].t < t - KEEP_SECS) samples.shift();
      const ids = Object.keys(stats.sessions_per_project || {}).sort();
      for (const s of samples) for (const id of Object.keys(s.perProject)) if (!ids.includes(id)) ids.push(id);
      if (ids.join() !== projectIds.join()) {
        projectIds = ids;
        charts.projects.setSeries(ids.map((id) => projectNames[id] || id));
      }
      status.textContent = "";
      renderFacts(stats);
      draw();
    } catch (e) {
      status.textContent = "Could not read /stats: " + e.message;
    }
    if (!stopped) timer = setTimeout(poll, 1000);
  }

  windowSel.addEventListener("change", draw);
  renderFacts(null);
  const side = Promise.allSettled([
    api.health().then((v) => (health = v)),
    api.get("/tls").then((v) => (tlsInfo = v)),
    api.get("/projects").then((list) => {
      for (const p of list) projectNames[p.id] = p.name;
    }),
  ]).then((results) => {
    const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
    if (failed.length) status.textContent = failed.join(" ");
  });
  await side;
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const c of Object.values(charts)) c.destroy();
  };
}
