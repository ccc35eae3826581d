// API keys: for scripts and Prometheus. A new key is shown once; revoking one makes it 401 from
// the next request on.

import * as api from "./api.js";
import { h, field, option, busy, confirmDialog, table, when, copyButton } from "./ui.js";

export default async function apikeys(root, ctx) {
  root.append(h("h1", {}, "API keys"), h("p", { class: "muted" },
    "Sent as Authorization: Bearer ebk_…; a key acts as its account, never above its own role."));
  const canWrite = ctx.me.role !== "viewer";
  const listBox = h("div", {});
  const fresh = h("div", { "aria-live": "polite" });

  async function refresh() {
    const list = await api.get("/api-keys");
    listBox.replaceChildren(table("API keys", ["Name", "Id", "Role", "Account", "Created", "Last used", ""], list.map((k) => {
      const err = h("span", { class: "error", role: "alert" });
      const del = canWrite ? h("button", { type: "button", class: "danger small" }, "Revoke", h("span", { class: "sr-only" }, " " + k.name)) : null;
      if (del) del.addEventListener("click", async () => {
        if (!(await confirmDialog(`Revoke “${k.name}”? Scripts using it get 401 from now on.`, "Revoke"))) return;
        const ok = await busy(del, err, () => api.del(`/api-keys/${api.seg(k.id)}`).then(() => true), "Revoking…");
        if (ok) refresh().catch((e) => (err.textContent = e.message));
      });
      return [k.name, h("code", {}, k.id), k.role, k.account, when(k.created_at), when(k.last_used_at), h("span", {}, del, err)];
    }), "No API key yet."));
  }
  await refresh();
  root.append(fresh, listBox);
  if (!canWrite) {
    root.append(h("p", { class: "muted" }, "Your role here is viewer: you can look, not change."));
    return;
  }

  const name = h("input", { name: "name", required: true, maxlength: 100 });
  const role = h("select", { name: "role" }, option("viewer", "viewer (reads only)"), option("admin", "admin"));
  const submit = h("button", { type: "submit" }, "Create key");
  const nameField = field("Name", name, "What uses it, like “prometheus”.");
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", "aria-labelledby": "new-key" }, h("h2", { id: "new-key" }, "New API key"),
    nameField, field("Role", role), submit, err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const made = await busy(submit, err, () => api.post("/api-keys", { name: name.value, role: role.value }), "Creating…");
    if (!made) return;
    name.value = "";
    const keyInput = h("input", { readonly: true, value: made.key, class: "mono", spellcheck: "false" });
    fresh.replaceChildren(h("section", { class: "card secret", "aria-labelledby": "made-key" },
      h("h2", { id: "made-key" }, `Key “${made.name}”`),
      h("p", { class: "notice" }, "Shown this once; the box keeps only its hash. Copy it now."),
      field("API key", keyInput), copyButton(keyInput, "Copy the key")));
    await refresh().catch((e) => (err.textContent = e.message));
  });
  root.append(form);
}
