// The setup link's page: makes the first account (the owner) with the one-time token from the
// link, then signs in. The password is typed twice and gets a strength hint.

import * as api from "./api.js";
import { h, field, busy } from "./ui.js";

export const MIN_PASSWORD = 10;

/** A rough strength estimate: bits from length and the kinds of characters used. */
export function strength(pw) {
  let pool = 0;
  if (/[a-z]/.test(pw)) pool += 26;
  if (/[A-Z]/.test(pw)) pool += 26;
  if (/[0-9]/.test(pw)) pool += 10;
  if (/[^A-Za-z0-9]/.test(pw)) pool += 33;
  const bits = Math.round(pw.length * Math.log2(Math.max(pool, 1)));
  if (pw.length < MIN_PASSWORD) return [0, `Too short: at least ${MIN_PASSWORD} characters (${pw.length} now).`];
  if (bits < 50) return [1, "Weak: add length (a few unrelated words work well)."];
  if (bits < 70) return [2, "Fair: a few more characters make it strong."];
  return [3, "Strong."];
}

export default function setupPage({ token, onDone }) {
  const user = h("input", { name: "username", autocomplete: "username", required: true, maxlength: 64, pattern: "[A-Za-z0-9_.@-]{1,64}" });
  const pw = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: MIN_PASSWORD });
  const pw2 = h("input", { type: "password", name: "password2", autocomplete: "new-password", required: true, minlength: MIN_PASSWORD });
  const meter = h("meter", { min: 0, max: 3, low: 1.5, high: 2.5, optimum: 3, value: 0, "aria-label": "Password strength" });
  const userField = field("User name", user, "1–64 characters: letters, digits, _ . @ -");
  const pwField = field("Password", pw, `At least ${MIN_PASSWORD} characters.`);
  const pw2Field = field("Password, again", pw2);
  const hint = pwField.querySelector(".hint");
  hint.setAttribute("aria-live", "polite");
  pwField.insertBefore(meter, hint);
  pw.addEventListener("input", () => {
    const [score, text] = strength(pw.value);
    meter.value = score;
    hint.textContent = text;
  });
  const submit = h("button", { type: "submit" }, "Create the owner account");
  const formErr = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card narrow", novalidate: true }, userField, pwField, pw2Field, submit, formErr);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const f of [userField, pwField, pw2Field]) f.error.textContent = "";
    formErr.textContent = "";
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(user.value)) {
      userField.error.textContent = "1–64 characters of A-Z a-z 0-9 _ . @ -";
      return user.focus();
    }
    if (pw.value.length < MIN_PASSWORD) {
      pwField.error.textContent = `At least ${MIN_PASSWORD} characters.`;
      return pw.focus();
    }
    if (pw.value !== pw2.value) {
      pw2Field.error.textContent = "The two passwords differ.";
      return pw2.focus();
    }
    let refused = null;
    const account = await busy(submit, formErr, () =>
      api.post("/setup", { token, username: user.value, password: pw.value }).catch((e) => {
        refused = e;
        throw e;
      }), "Creating…");
    if (account) onDone({ ...account, projects: [] });
    else if (refused && refused.code === "conflict") {
      formErr.append(" ", h("a", { href: "/" }, "Sign in instead."));
    }
  });
  const missing = token ? null : h("p", { class: "error", role: "alert" },
    "This page needs the setup link the server printed when it started (https://HOST:9443/setup#TOKEN).");
  return [
    h("h1", {}, "Set up edgebeam"),
    h("p", { class: "muted" }, "Make the first account. It is the box's owner and can make the others."),
    missing,
    form,
  ];
}
