// The audit log, newest first, filtered by actor and action, a page of 50 rows at a time
// (the next page is before= the last id shown).

import * as api from "./api.js";
import { h, field, option, busy, table, when } from "./ui.js";

const ACTIONS = ["account.create", "account.delete", "session.login", "session.logout", "session.login_failed",
  "api_key.create", "api_key.delete", "project.create", "project.update", "project.delete",
  "key.create", "key.add", "key.delete", "member.set", "member.remove", "peer.kick", "turn.rotate_secret"];
const PAGE = 50;

export default async function audit(root, ctx) {
  const actor = h("input", { name: "actor", value: ctx.params.get("actor") || "", autocomplete: "off" });
  const action = h("select", { name: "action" }, option("", "any action"),
    ACTIONS.map((a) => option(a, a, a === ctx.params.get("action"))));
  const apply = h("button", { type: "submit" }, "Filter");
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "toolbar", "aria-label": "Filter the audit log" },
    field("Actor", actor), field("Action", action), apply);
  const listBox = h("div", { id: "audit-rows" });
  const older = h("button", { type: "button", class: "secondary" }, "Older");
  const newest = h("button", { type: "button", class: "secondary" }, "Newest");
  const pageErr = h("p", { class: "error", role: "alert" });
  const pageInfo = h("span", { class: "hint", role: "status" });
  root.append(h("h1", {}, "Audit log"), h("p", { class: "muted" }, "Every change made through the API, the UI or the CLI."),
    form, err, listBox, h("div", { class: "row" }, newest, older, pageInfo), pageErr);

  let before = null;
  let page = 1;

  async function load(beforeId) {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (beforeId) q.set("before", String(beforeId));
    if (actor.value.trim()) q.set("actor", actor.value.trim());
    if (action.value) q.set("action", action.value);
    const rows = await api.get(`/audit?${q}`);
    listBox.replaceChildren(table("Audit log", ["Time", "Actor", "Source", "Action", "Target", "Detail"], rows.map((r) => [
      when(r.time), r.actor, r.source, h("code", {}, r.action), r.target ?? "—", r.detail == null ? "—" : JSON.stringify(r.detail),
    ]), "No matching entries."));
    before = rows.length === PAGE ? rows[rows.length - 1].id : null;
    older.disabled = before === null;
    newest.disabled = !beforeId;
    pageInfo.textContent = `Page ${page}, ${rows.length} entries.`;
    return true;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    page = 1;
    await busy(apply, err, () => load(null), "Loading…");
  });
  older.addEventListener("click", async () => {
    page += 1;
    const ok = await busy(older, pageErr, () => load(before), "Loading…");
    if (!ok) page -= 1;
  });
  newest.addEventListener("click", async () => {
    page = 1;
    await busy(newest, pageErr, () => load(null), "Loading…");
  });
  await load(null).catch((e) => (err.textContent = e.message));
}
