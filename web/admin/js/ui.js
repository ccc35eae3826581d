// Small DOM helpers shared by the pages: element building, busy buttons with errors shown next to
// them, the confirmation dialog, and number and time formats.

/** h("button", {type: "button", onclick}, "text", child…): attributes starting "on" are listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let ids = 0;
/** A fresh id for label/for and aria-describedby pairs. */
export function uid(prefix = "f") {
  ids += 1;
  return prefix + "-" + ids;
}

/** A labelled input (or select/textarea given as `control`) with a hint and an error line. */
export function field(label, control, hint) {
  control.id = control.id || uid();
  const err = h("p", { class: "error", id: control.id + "-err", role: "alert" });
  const described = [err.id];
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "hint", id: control.id + "-hint" }, hint);
    described.unshift(hintEl.id);
  }
  control.setAttribute("aria-describedby", described.join(" "));
  // An error is about what was there: editing the field takes it away.
  control.addEventListener("input", () => (err.textContent = ""));
  const wrap = h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl, err);
  wrap.error = err;
  return wrap;
}

/** The error line of a control made by field(). */
export function errorOf(control) {
  return document.getElementById(control.id + "-err");
}

export function option(value, label, selected) {
  return h("option", { value, selected: selected ? true : undefined }, label ?? value);
}

/**
 * Runs `action` for `button`: disables it, says what is going on ("Working…"), and puts any
 * error's message in `errorEl` (next to the control). Resolves to the action's result or undefined.
 */
export async function busy(button, errorEl, action, label = "Working…") {
  const content = [...button.childNodes];
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label;
  if (errorEl) errorEl.textContent = "";
  try {
    return await action();
  } catch (e) {
    if (errorEl) errorEl.textContent = e.message;
    else throw e;
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.replaceChildren(...content);
  }
}

/** Asks in the modal dialog; resolves to true when confirmed. */
export function confirmDialog(text, okLabel = "Delete") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

/** A page header: its h1 and an optional line under it. */
export function pageHead(title, intro) {
  return [h("h1", {}, title), intro ? h("p", { class: "muted" }, intro) : null];
}

/** A table with a caption, column headers and rows of cells (strings or nodes). */
export function table(caption, columns, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      // data-label: the column name, shown before each cell when rows stack on a narrow screen.
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c, i) => h("td", { "data-label": columns[i] || undefined }, c))))),
    ),
  );
}

export function when(unix) {
  if (unix === null || unix === undefined) return "—";
  return new Date(unix * 1000).toLocaleString();
}

export function duration(secs) {
  secs = Math.max(0, Math.floor(secs));
  const d = Math.floor(secs / 86400);
  const hr = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${m} min`;
  if (m) return `${m} min ${secs % 60} s`;
  return `${secs} s`;
}

export function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return (i ? n.toFixed(1) : Math.round(n)) + " " + units[i];
}

/** Offers `text` as a file download (a blob: URL made and revoked here; nothing is sent). */
export function downloadLink(text, filename, label) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/x-pem-file" }));
  return h("a", { href: url, download: filename, class: "button" }, label);
}

/** A button that copies the text of `source` (an input, textarea or pre). */
export function copyButton(source, label = "Copy") {
  const status = h("span", { class: "hint", role: "status" });
  const btn = h("button", {
    type: "button",
    class: "secondary",
    onclick: async () => {
      const text = "value" in source ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text);
        status.textContent = "Copied.";
      } catch {
        if (source.select) source.select();
        status.textContent = "Select and copy it by hand (Ctrl+C).";
      }
    },
  }, label);
  return h("span", { class: "copy" }, btn, status);
}
