// The certificate the box serves: mode, subject, names, issuer, expiry, fingerprint, and the ACME
// status when ACME runs.

import * as api from "./api.js";
import { h, when } from "./ui.js";

const MODES = { self_signed: "self-signed", files: "operator's files", acme: "ACME" };

export default async function tls(root) {
  root.append(h("h1", {}, "TLS"));
  const t = await api.get("/tls");
  const days = Math.floor((t.not_after - Date.now() / 1000) / 86400);
  const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
  const facts = [
    ...row("Mode", MODES[t.mode] || t.mode),
    ...row("Subject", t.subject),
    ...row("Names", t.sans && t.sans.length ? h("ul", { class: "plain" }, t.sans.map((s) => h("li", {}, s))) : "—"),
    ...row("Issuer", t.issuer),
    ...row("Expires", `${when(t.not_after)} (${days} days)`),
    ...row("SHA-256 fingerprint", h("code", { class: "wrap" }, t.sha256_fingerprint)),
  ];
  if (t.acme) {
    facts.push(...row("ACME status", t.acme.status || "—"), ...row("ACME last error", t.acme.last_error || "none"),
      ...row("Next renewal", when(t.acme.next_renewal)));
  }
  const notes = [
    days < 14 ? h("p", { class: "notice", role: "status" }, `The certificate expires in ${days} days.`) : null,
    h("dl", { class: "facts card" }, facts),
    t.mode === "self_signed"
      ? h("p", { class: "muted" }, "Browsers warn about a self-signed certificate. Compare the fingerprint above with the one the box logs at start, or give it a certificate (tls_cert, tls_key).")
      : null,
  ];
  root.append(...notes.filter(Boolean));
}
