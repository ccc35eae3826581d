// Accounts (owners only): list, create with a role, delete (which ends the account's sessions
// and deletes its API keys; the last owner cannot go).

import * as api from "./api.js";
import { h, field, option, busy, confirmDialog, table, when } from "./ui.js";
import { MIN_PASSWORD } from "./setup.js";

export default async function accounts(root, ctx) {
  root.append(h("h1", {}, "Accounts"));
  if (ctx.me.role !== "owner") {
    root.append(h("p", { class: "notice" }, "Only owners manage accounts."));
    return;
  }
  const listBox = h("div", {});
  async function refresh() {
    const list = await api.get("/accounts");
    listBox.replaceChildren(table("Accounts", ["Name", "Role", "Created", ""], list.map((a) => {
      const err = h("span", { class: "error", role: "alert" });
      const del = h("button", { type: "button", class: "danger small" }, "Delete", h("span", { class: "sr-only" }, " " + a.username));
      del.addEventListener("click", async () => {
        if (!(await confirmDialog(`Delete the account ${a.username}? Its sessions end and its API keys go.`))) return;
        const ok = await busy(del, err, () => api.del(`/accounts/${api.seg(a.username)}`).then(() => true), "Deleting…");
        if (ok) refresh().catch((e) => (err.textContent = e.message));
      });
      return [a.username, a.role, when(a.created_at), h("span", {}, del, err)];
    })));
  }
  await refresh();

  const user = h("input", { name: "username", required: true, maxlength: 64, autocomplete: "off" });
  const pw = h("input", { type: "password", name: "password", required: true, minlength: MIN_PASSWORD, autocomplete: "new-password" });
  const role = h("select", { name: "role" }, option("viewer"), option("admin"), option("owner"));
  const submit = h("button", { type: "submit" }, "Create account");
  const userField = field("User name", user, "1–64 characters: letters, digits, _ . @ -");
  const pwField = field("Password", pw, `At least ${MIN_PASSWORD} characters; give it to the person another way.`);
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", "aria-labelledby": "new-account" }, h("h2", { id: "new-account" }, "New account"),
    userField, pwField, field("Role", role), submit, err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    pwField.error.textContent = "";
    if (pw.value.length < MIN_PASSWORD) {
      pwField.error.textContent = `At least ${MIN_PASSWORD} characters.`;
      return pw.focus();
    }
    const ok = await busy(submit, err, () => api.post("/accounts", { username: user.value, password: pw.value, role: role.value }).then(() => true), "Creating…");
    if (ok) {
      user.value = "";
      pw.value = "";
      await refresh().catch((e) => (err.textContent = e.message));
    }
  });
  root.append(listBox, form);
}
