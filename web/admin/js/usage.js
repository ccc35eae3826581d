// A project's usage over hours or days, from GET /projects/{id}/usage (hourly buckets; days are
// summed here, peaks taken as the day's highest hour).

import * as api from "./api.js";
import { h, field, option, bytes } from "./ui.js";
import { lineChart } from "./chart.js";
import { projectPicker } from "./projectpick.js";

const SPANS = {
  "24h": ["Last 24 hours, by hour", 86400, 3600],
  "7d": ["Last 7 days, by hour", 7 * 86400, 3600],
  "30d": ["Last 30 days, by day", 30 * 86400, 86400],
  "90d": ["Last 90 days, by day", 90 * 86400, 86400],
};

/** Hourly buckets → buckets of `step` seconds (sums, and the highest peak). */
export function rebucket(rows, step) {
  if (step === 3600) return rows;
  const out = new Map();
  for (const r of rows) {
    const k = Math.floor(r.hour / step) * step;
    const b = out.get(k) || { hour: k, peak_connections: 0, signals: 0, turn_bytes: 0, turn_allocations: 0 };
    b.peak_connections = Math.max(b.peak_connections, r.peak_connections);
    b.signals += r.signals;
    b.turn_bytes += r.turn_bytes;
    b.turn_allocations += r.turn_allocations;
    out.set(k, b);
  }
  return [...out.values()].sort((a, b) => a.hour - b.hour);
}

export default async function usage(root, ctx) {
  root.append(h("h1", {}, "Usage"), h("p", { class: "muted" }, "Per project, in UTC hours; the current hour is still filling."));
  const pick = await projectPicker("usage", ctx);
  root.append(pick.el);
  if (!pick.project) return;
  const spanKey = SPANS[ctx.params.get("span")] ? ctx.params.get("span") : "24h";
  const span = h("select", { name: "span" }, Object.entries(SPANS).map(([k, [label]]) => option(k, label, k === spanKey)));
  span.addEventListener("change", () => ctx.go("usage", { project: pick.project.id, span: span.value }));
  const err = h("p", { class: "error", role: "alert" });
  const totals = h("p", { role: "status" });
  const bars = SPANS[spanKey][2] !== 3600;
  const latest = bars ? "today" : "this hour";
  const charts = [
    lineChart("Peak connections", ["peak connections"], { bars, latest }),
    lineChart("Signaling messages", ["signals"], { bars, latest }),
    lineChart("TURN relayed", ["bytes"], { format: bytes, bars, latest }),
    lineChart("TURN allocations", ["allocations"], { bars, latest }),
  ];
  root.append(h("div", { class: "toolbar" }, field("Period", span)), err, totals, h("div", { class: "charts" }, charts.map((c) => c.el)));

  const [, length, step] = SPANS[spanKey];
  const to = Math.floor(Date.now() / 1000);
  try {
    const rows = rebucket(await api.get(`/projects/${api.seg(pick.project.id)}/usage?from=${to - length}&to=${to}`), step);
    const xs = rows.map((r) => r.hour);
    const keys = ["peak_connections", "signals", "turn_bytes", "turn_allocations"];
    keys.forEach((k, i) => charts[i].update(xs, [rows.map((r) => r[k])]));
    const sum = (k) => rows.reduce((a, r) => a + r[k], 0);
    totals.textContent = `In this period: ${sum("signals")} signaling messages, ${bytes(sum("turn_bytes"))} relayed, ` +
      `${sum("turn_allocations")} TURN allocations, at most ${Math.max(0, ...rows.map((r) => r.peak_connections))} connections at once.`;
  } catch (e) {
    err.textContent = e.message;
  }
  return () => charts.forEach((c) => c.destroy());
}
