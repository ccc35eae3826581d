// Line charts drawn by uPlot (vendored, loaded as /ui/vendor/uPlot.iife.min.js: window.uPlot),
// sized to their container and coloured from the page's theme. Each chart is a <figure> whose
// caption carries the latest values as text, since a canvas says nothing to a screen reader.

import { h } from "./ui.js";

const PALETTE = ["#1f6feb", "#d9480f", "#2f9e44", "#ae3ec9", "#e8590c", "#0c8599", "#c2255c", "#5c940d"];

function themeColor(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/**
 * A chart of `series` (labels) against time (unix seconds) or against categories.
 * `format(value)` formats the y values. Returns {el, update(xs, ys[]), setSeries(labels), destroy}.
 */
export function lineChart(title, series, { format = (v) => String(v), height = 180, bars = false, latest = "now", named = false } = {}) {
  const summary = h("span", { class: "latest" });
  const plot = h("div", { class: "chart", "aria-hidden": "true" });
  const el = h("figure", { class: "chart-card" }, h("figcaption", {}, h("strong", {}, title), " ", summary), plot);
  let labels = series;
  let u = null;
  let last = null;

  function options(width) {
    const fg = themeColor("--muted", "#666");
    const grid = themeColor("--grid", "#8884");
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    return {
      width,
      height,
      legend: { show: named || labels.length > 1 },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 70, values: (_, ticks) => ticks.map(format) }],
      series: [
        {},
        ...labels.map((label, i) => ({
          label,
          stroke: PALETTE[i % PALETTE.length],
          fill: bars ? PALETTE[i % PALETTE.length] + "55" : undefined,
          width: 2,
          value: (_, v) => (v === null || v === undefined ? "—" : format(v)),
          paths: bars && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.8, 40] }) : undefined,
          points: { show: false },
        })),
      ],
    };
  }

  function build(data) {
    if (u) u.destroy();
    const width = Math.max(plot.clientWidth, 200);
    u = new window.uPlot(options(width), data, plot);
  }

  const resize = new ResizeObserver(() => {
    if (u && plot.clientWidth && Math.abs(plot.clientWidth - u.width) > 2) u.setSize({ width: plot.clientWidth, height });
  });
  resize.observe(plot);

  return {
    el,
    /** New data; `range` ([min, max] seconds) pins the time axis, else it fits the data. */
    update(xs, ys, range) {
      const data = [xs, ...ys];
      if (!u) build(data);
      else u.setData(data);
      if (range) u.setScale("x", { min: range[0], max: range[1] });
      last = ys.map((s) => s[s.length - 1]);
      summary.textContent = last.length
        ? `— ${latest}: ` + labels.map((l, i) => (named || labels.length > 1 ? l + " " : "") + (last[i] == null ? "—" : format(last[i]))).join(", ")
        : `— none ${latest}`;
    },
    /** Changes the series (a project appeared); the next update rebuilds the chart. */
    setSeries(newLabels) {
      labels = newLabels;
      if (u) u.destroy();
      u = null;
    },
    destroy() {
      resize.disconnect();
      if (u) u.destroy();
    },
  };
}
