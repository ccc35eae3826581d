// A project's members: accounts given a role (admin or viewer) on this project only.

import * as api from "./api.js";
import { h, field, option, busy, confirmDialog, table, when } from "./ui.js";
import { projectPicker, canChange } from "./projectpick.js";

export default async function members(root, ctx) {
  root.append(h("h1", {}, "Members"), h("p", { class: "muted" },
    "An account that is a member of some projects sees only those, with its member role on each. Owners see everything."));
  const pick = await projectPicker("members", ctx);
  root.append(pick.el);
  if (!pick.project) return;
  const id = api.seg(pick.project.id);
  const canWrite = canChange(ctx.me, pick.project.id);
  const listBox = h("div", {});

  async function refresh() {
    const list = await api.get(`/projects/${id}/members`);
    listBox.replaceChildren(table("Members", ["Account", "Role", "Added", ""], list.map((m) => {
      const err = h("span", { class: "error", role: "alert" });
      const del = canWrite ? h("button", { type: "button", class: "danger small" }, "Remove", h("span", { class: "sr-only" }, " " + m.username)) : null;
      if (del) del.addEventListener("click", async () => {
        if (!(await confirmDialog(`Remove ${m.username} from ${pick.project.name}?`, "Remove"))) return;
        const ok = await busy(del, err, () => api.del(`/projects/${id}/members/${api.seg(m.username)}`).then(() => true), "Removing…");
        if (ok) refresh().catch((e) => (err.textContent = e.message));
      });
      return [m.username, m.role, when(m.added_at), h("span", {}, del, err)];
    }), "No members: every account has its account role on this project."));
  }
  await refresh();
  root.append(listBox);
  if (!canWrite) {
    root.append(h("p", { class: "muted" }, "Your role here is viewer: you can look, not change."));
    return;
  }

  const user = h("input", { name: "username", required: true, autocomplete: "off" });
  const role = h("select", { name: "role" }, option("viewer", "viewer"), option("admin", "admin"));
  const submit = h("button", { type: "submit" }, "Add or change");
  const userField = field("Account", user);
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", "aria-labelledby": "add-member" },
    h("h2", { id: "add-member" }, "Add a member"), userField, field("Role on this project", role), submit, err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await busy(submit, err, () => api.post(`/projects/${id}/members`, { username: user.value, role: role.value }).then(() => true), "Saving…");
    if (ok) {
      user.value = "";
      await refresh().catch((e) => (err.textContent = e.message));
    }
  });
  root.append(form);
}
