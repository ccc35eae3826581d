// Projects: the list, a form to create one, and per project a form to edit its name, allowed
// origins, max token TTL and connection cap, and a delete with confirmation.

import * as api from "./api.js";
import { h, field, busy, confirmDialog, table, when } from "./ui.js";
import { canChange } from "./projectpick.js";

/** "https://a.example, https://b.example" (or one per line) → ["https://a.example", …]. */
function parseOrigins(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

/** The editable fields of a project, prefilled from `p` (or the defaults). */
function projectFields(p) {
  const name = h("input", { name: "name", required: true, maxlength: 100, value: p ? p.name : "" });
  const origins = h("textarea", { name: "allowed_origins", rows: 3 });
  origins.value = p ? p.allowed_origins.join("\n") : "";
  const ttl = h("input", { name: "max_token_ttl", type: "number", min: 60, max: 2592000, value: p ? p.max_token_ttl : 86400 });
  const cap = h("input", { name: "max_connections", type: "number", min: 1, max: 10000000, value: p && p.max_connections != null ? p.max_connections : "" });
  const fields = {
    name: field("Name", name, "1–100 characters."),
    allowed_origins: field("Allowed origins", origins, "One per line, like https://app.example.org. Empty allows any origin."),
    max_token_ttl: field("Longest token lifetime (seconds)", ttl, "60 to 2,592,000; 86,400 is a day."),
    max_connections: field("Most signaling sessions at once", cap, "Empty: the server's default cap."),
  };
  const body = () => ({
    name: name.value,
    allowed_origins: parseOrigins(origins.value),
    max_token_ttl: Number(ttl.value),
    max_connections: cap.value === "" ? null : Number(cap.value),
  });
  return { fields, body };
}

/** Which field a 400's message is about, by the words the server uses (tried in this order). */
const ABOUT = [
  ["max_token_ttl", /max_token_ttl|lifetime|ttl/i],
  ["max_connections", /max_connections|connections/i],
  ["allowed_origins", /origin/i],
  ["name", /name/i],
];

/** Puts an API error next to the field it is about, else under the form. */
function showError(fields, fallback, e) {
  for (const f of Object.values(fields)) f.error.textContent = "";
  fallback.textContent = "";
  const about = e.status === 400 ? ABOUT.find(([, re]) => re.test(e.message)) : null;
  (about ? fields[about[0]].error : fallback).textContent = e.message;
}

export default async function projects(root, ctx) {
  const canWrite = ctx.me.role !== "viewer";
  const editing = ctx.params.get("edit");
  root.append(h("h1", {}, "Projects"), h("p", { class: "muted" }, "A project holds the keys that sign its peers' tokens, and its limits."));
  const list = await api.get("/projects");

  const project = editing ? list.find((p) => p.id === editing) : null;
  if (project) {
    root.append(editForm(project, ctx));
    return;
  }

  root.append(
    table("Projects", ["Name", "Id", "Origins", "Token TTL", "Cap", "Created", ""], list.map((p) => [
      p.name,
      h("code", {}, p.id),
      p.allowed_origins.length ? p.allowed_origins.join(", ") : "any",
      p.max_token_ttl + " s",
      p.max_connections ?? "default",
      when(p.created_at),
      h("span", { class: "actions" },
        h("a", { href: `#/projects?edit=${p.id}` }, "Edit", h("span", { class: "sr-only" }, " " + p.name)),
        h("a", { href: `#/keys?project=${p.id}` }, "Keys", h("span", { class: "sr-only" }, " of " + p.name)),
        h("a", { href: `#/peers?project=${p.id}` }, "Peers", h("span", { class: "sr-only" }, " of " + p.name))),
    ]), "No project yet."),
  );

  if (!canWrite) return;
  const { fields, body } = projectFields(null);
  const submit = h("button", { type: "submit" }, "Create project");
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", "aria-labelledby": "new-project" },
    h("h2", { id: "new-project" }, "New project"), Object.values(fields), submit, err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const made = await busy(submit, null, () => api.post("/projects", body()), "Creating…").catch((e) => showError(fields, err, e));
    if (made) ctx.go("keys", { project: made.id });
  });
  root.append(form);
}

function editForm(p, ctx) {
  const canWrite = canChange(ctx.me, p.id);
  const { fields, body } = projectFields(p);
  const save = h("button", { type: "submit" }, "Save");
  const err = h("p", { class: "error", role: "alert" });
  const saved = h("p", { class: "hint", role: "status" });
  const form = h("form", { class: "card", "aria-labelledby": "edit-project" },
    h("h2", { id: "edit-project" }, `Edit ${p.name}`), h("p", {}, h("code", {}, p.id)),
    Object.values(fields), h("div", { class: "row" }, canWrite ? save : null, h("a", { href: "#/projects" }, "Back to the list")), err, saved);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    saved.textContent = "";
    const updated = await busy(save, null, () => api.patch(`/projects/${api.seg(p.id)}`, body()), "Saving…").catch((e) => showError(fields, err, e));
    if (updated) {
      err.textContent = "";
      for (const f of Object.values(fields)) f.error.textContent = "";
      saved.textContent = "Saved.";
    }
  });
  const delBtn = h("button", { type: "button", class: "danger" }, "Delete project");
  const delErr = h("p", { class: "error", role: "alert" });
  delBtn.addEventListener("click", async () => {
    if (!(await confirmDialog(`Delete ${p.name}? Its keys and members go with it, and its live sessions close.`))) return;
    const done = await busy(delBtn, delErr, () => api.del(`/projects/${api.seg(p.id)}`).then(() => true), "Deleting…");
    if (done) ctx.go("projects");
  });
  const danger = h("section", { class: "card danger-zone", "aria-labelledby": "danger" },
    h("h2", { id: "danger" }, "Delete"), delBtn, delErr);
  return h("div", {}, form, canWrite ? danger : null);
}
