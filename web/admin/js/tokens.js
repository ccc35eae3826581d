// The token tester: a token is checked by the box exactly as signaling would (POST
// /tokens/inspect); the header and claims are shown whenever they decode, with why it is invalid.

import * as api from "./api.js";
import { h, field, busy, when } from "./ui.js";

export default async function tokens(root) {
  const area = h("textarea", { name: "token", rows: 5, class: "mono", spellcheck: "false", required: true });
  const submit = h("button", { type: "submit" }, "Check");
  const f = field("Token", area, "A JWT (three base64url parts separated by dots). It is sent to this box only.");
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card" }, f, submit);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const r = await busy(submit, f.error, () => api.post("/tokens/inspect", { token: area.value.trim() }), "Checking…");
    if (!r) return;
    const exp = r.claims && typeof r.claims.exp === "number" ? ` Expires ${when(r.claims.exp)}.` : "";
    out.replaceChildren(
      h("p", { class: r.valid ? "ok" : "notice", role: "status" }, r.valid ? "Valid on this box." + exp : "Not valid: " + (r.error || "unknown reason") + "."),
      h("h2", {}, "Header"), h("pre", { tabindex: 0 }, r.header ? JSON.stringify(r.header, null, 2) : "(does not decode)"),
      h("h2", {}, "Claims"), h("pre", { tabindex: 0 }, r.claims ? JSON.stringify(r.claims, null, 2) : "(do not decode)"),
    );
  });
  root.append(h("h1", {}, "Token tester"), h("p", { class: "muted" }, "Paste a token to see its header, its claims, and why it is or is not valid here."), form, out);
}
