// The peers connected to a project's signaling now, refreshed every 2 s, each with a kick button
// (its session closes with 4003 and its TURN allocations and credentials go).

import * as api from "./api.js";
import { h, busy, confirmDialog, table, when } from "./ui.js";
import { projectPicker, canChange } from "./projectpick.js";

export default async function peers(root, ctx) {
  root.append(h("h1", {}, "Live peers"), h("p", { class: "muted" },
    "A kick closes the peer's session now; it is not a ban: a peer with a new token can come back."));
  const pick = await projectPicker("peers", ctx);
  root.append(pick.el);
  if (!pick.project) return;
  const id = api.seg(pick.project.id);
  const canWrite = canChange(ctx.me, pick.project.id);
  const listBox = h("div", { id: "peer-list" });
  const status = h("p", { class: "error", role: "alert" });
  const kicked = h("p", { class: "hint", role: "status" });
  let timer = null;
  let stopped = false;
  let pausing = false;

  async function refresh() {
    const list = await api.get(`/projects/${id}/peers`);
    if (pausing) return;
    listBox.replaceChildren(table("Connected peers", ["Group", "Peer", "Connected", "Token expires", "TURN allocations", ""], list.map((p) => {
      const err = h("span", { class: "error", role: "alert" });
      const kick = canWrite ? h("button", { type: "button", class: "danger small", "data-peer": `${p.gid}/${p.pid}` },
        "Kick", h("span", { class: "sr-only" }, ` ${p.pid} of ${p.gid}`)) : null;
      if (kick) kick.addEventListener("click", async () => {
        pausing = true;
        try {
          if (!(await confirmDialog(`Kick ${p.pid} (group ${p.gid})? Its session closes now.`, "Kick"))) return;
          const ok = await busy(kick, err, () => api.del(`/projects/${id}/peers/${api.seg(p.gid)}/${api.seg(p.pid)}`).then(() => true), "Kicking…");
          if (ok) kicked.textContent = `Kicked ${p.pid} of ${p.gid}.`;
        } finally {
          pausing = false;
        }
        refresh().catch((e) => (status.textContent = "Could not read the peers: " + e.message));
      });
      return [p.gid, p.pid, when(p.connected_at), when(p.expires_at), String(p.allocations), h("span", {}, kick, err)];
    }), "No peer is connected to this project now."));
  }

  async function loop() {
    if (stopped) return;
    try {
      await refresh();
      status.textContent = "";
    } catch (e) {
      status.textContent = "Could not read the peers: " + e.message;
    }
    if (!stopped) timer = setTimeout(loop, 2000);
  }
  root.append(status, kicked, listBox);
  if (!canWrite) root.append(h("p", { class: "muted" }, "Your role here is viewer: you can look, not change."));
  await loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
