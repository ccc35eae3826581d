// The project chooser of the per-project pages (keys, members, live peers, webhooks, usage): a labelled
// <select> whose choice lives in the hash (#/peers?project=prj_…), so a page can be linked to.

import * as api from "./api.js";
import { h, field, option } from "./ui.js";

/** Loads the projects; resolves to {el, project} (project: the chosen one, or null if none). */
export async function projectPicker(page, ctx) {
  const projects = await api.get("/projects");
  if (!projects.length) {
    return {
      el: h("p", { class: "notice" }, "No project yet. ", h("a", { href: "#/projects" }, "Create one"), " first."),
      project: null,
    };
  }
  const wanted = ctx.params.get("project");
  const project = projects.find((p) => p.id === wanted) || projects[0];
  const select = h("select", { name: "project" }, projects.map((p) => option(p.id, `${p.name} (${p.id})`, p.id === project.id)));
  select.addEventListener("change", () => ctx.go(page, { project: select.value }));
  return { el: h("div", { class: "toolbar" }, field("Project", select)), project };
}

/**
 * What the signed-in account may do on a project: its member role there if it has memberships,
 * else its account role (docs/api.md, "Roles and members"). True for admin and owner.
 */
export function canChange(me, projectId) {
  const member = (me.projects || []).find((m) => m.id === projectId);
  const role = member && me.role !== "owner" ? member.role : me.role;
  return role === "admin" || role === "owner";
}
