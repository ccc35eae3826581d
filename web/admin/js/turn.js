// TURN secret rotation: a new shared secret; the previous one stays valid for the grace period
// (turn_secret_grace_secs) so credentials already handed out keep working until they expire.

import * as api from "./api.js";
import { h, busy, confirmDialog } from "./ui.js";

export default async function turn(root, ctx) {
  root.append(h("h1", {}, "TURN"), h("p", {},
    "TURN credentials are derived from a shared secret. Rotating it makes a new one; the previous one keeps working for the grace period (turn_secret_grace_secs), then credentials made with it are refused."));
  if (ctx.me.role === "viewer") {
    root.append(h("p", { class: "notice" }, "Rotating the secret needs the admin role."));
    return;
  }
  const btn = h("button", { type: "button" }, "Rotate the TURN secret");
  const err = h("p", { class: "error", role: "alert" });
  const done = h("p", { class: "hint", role: "status" });
  btn.addEventListener("click", async () => {
    done.textContent = "";
    if (!(await confirmDialog("Rotate the TURN secret now?", "Rotate"))) return;
    const ok = await busy(btn, err, () => api.post("/turn/rotate-secret").then(() => true), "Rotating…");
    if (ok) done.textContent = `Rotated at ${new Date().toLocaleTimeString()}.`;
  });
  root.append(h("section", { class: "card" }, btn, err, done));
}
