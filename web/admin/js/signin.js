// Sign-in: user name and password to POST /login; a message says why we are here (signed out,
// session expired).

import * as api from "./api.js";
import { h, field, busy } from "./ui.js";

export default function signinPage({ message, onSignedIn }) {
  const user = h("input", { name: "username", autocomplete: "username", required: true });
  const pw = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit" }, "Sign in");
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card narrow" }, field("User name", user), field("Password", pw), submit, err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const account = await busy(submit, err, () => api.post("/login", { username: user.value, password: pw.value }), "Signing in…");
    if (!account) return pw.select();
    const me = await busy(submit, err, () => api.get("/me"));
    if (me) onSignedIn(me);
  });
  return [
    h("h1", {}, "Sign in"),
    message ? h("p", { class: "notice", role: "status" }, message) : null,
    form,
    h("p", { class: "muted" }, "No account yet? Open the setup link the server printed on its first start, or run ",
      h("code", {}, "edgebeam admin create"), " on the box."),
  ];
}
