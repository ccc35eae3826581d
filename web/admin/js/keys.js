// A project's ES256 keys. "Generate" makes the pair here, in the browser, with WebCrypto (ECDSA
// P-256, extractable): only the public key (SPKI PEM) is sent; the private key is shown once as a
// PKCS#8 PEM to download or copy, with snippets that mint a token with it in Node, Python and Go.
// A public key made elsewhere (PEM or JWK) can be registered; keys can be deleted.

import * as api from "./api.js";
import { h, field, busy, confirmDialog, table, when, downloadLink, copyButton } from "./ui.js";
import { projectPicker, canChange } from "./projectpick.js";

function pem(label, der) {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g).join("\n")}\n-----END ${label}-----\n`;
}

/** A fresh P-256 pair: {publicPem (SPKI), privatePem (PKCS#8)}. */
export async function generatePair() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const [spki, pkcs8] = await Promise.all([
    crypto.subtle.exportKey("spki", pair.publicKey),
    crypto.subtle.exportKey("pkcs8", pair.privateKey),
  ]);
  return { publicPem: pem("PUBLIC KEY", spki), privatePem: pem("PRIVATE KEY", pkcs8) };
}

/**
 * What to send for a pasted key: a PEM string, or a JWK object with only its public members.
 * A private key is refused here, before anything is sent.
 */
export function publicKeyBody(text) {
  const t = text.trim();
  if (t.startsWith("{")) {
    let jwk;
    try {
      jwk = JSON.parse(t);
    } catch {
      throw new Error("This looks like a JWK but is not valid JSON.");
    }
    if ("d" in jwk) throw new Error("This JWK holds a private key (\"d\"). Paste only its public part: kty, crv, x, y.");
    return jwk;
  }
  if (/PRIVATE KEY/.test(t)) throw new Error("This is a private key. Paste the public key (openssl pkey -in app.pem -pubout).");
  return t + "\n";
}

function snippets(kid) {
  return {
    Node: `// npm install jose
import fs from "node:fs";
import { SignJWT, importPKCS8 } from "jose";
const key = await importPKCS8(fs.readFileSync("${kid}.pem", "utf8"), "ES256");
const token = await new SignJWT({ gid: "room-1", pid: "alice" })
  .setProtectedHeader({ alg: "ES256", kid: "${kid}" })
  .setIssuedAt()
  .setExpirationTime("1h")
  .sign(key);
console.log(token);`,
    Python: `# pip install pyjwt cryptography
import time, jwt
now = int(time.time())
token = jwt.encode(
    {"gid": "room-1", "pid": "alice", "iat": now, "exp": now + 3600},
    open("${kid}.pem").read(), algorithm="ES256", headers={"kid": "${kid}"})
print(token)`,
    Go: `// go get github.com/golang-jwt/jwt/v5
pemBytes, _ := os.ReadFile("${kid}.pem")
key, _ := jwt.ParseECPrivateKeyFromPEM(pemBytes)
t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
    "gid": "room-1", "pid": "alice",
    "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
})
t.Header["kid"] = "${kid}"
token, _ := t.SignedString(key)
fmt.Println(token)`,
  };
}

/** The once-only view of a generated private key. */
function privateKeyCard(kid, privatePem) {
  const area = h("textarea", { id: "private-key", readonly: true, rows: 6, spellcheck: "false", class: "mono" });
  area.value = privatePem;
  const parts = Object.entries(snippets(kid)).map(([lang, code]) => {
    const pre = h("pre", { tabindex: 0, "aria-label": `${lang} example` }, h("code", {}, code));
    return h("details", {}, h("summary", {}, `Mint a token in ${lang}`), pre, copyButton(pre, `Copy the ${lang} example`));
  });
  return h("section", { class: "card secret", "aria-labelledby": "pk-title" },
    h("h2", { id: "pk-title" }, `Private key of ${kid}`),
    h("p", { class: "notice", role: "status" },
      "Shown this once: the box never had it and cannot show it again. Save it now, on the machine that mints tokens."),
    field("Private key (PKCS#8 PEM)", area),
    h("div", { class: "row" }, downloadLink(privatePem, `${kid}.pem`, `Download ${kid}.pem`), copyButton(area, "Copy the key")),
    parts);
}

export default async function keys(root, ctx) {
  root.append(h("h1", {}, "Keys"), h("p", { class: "muted" }, "The ES256 public keys that verify a project's tokens."));
  const pick = await projectPicker("keys", ctx);
  root.append(pick.el);
  if (!pick.project) return;
  const id = api.seg(pick.project.id);
  const canWrite = canChange(ctx.me, pick.project.id);
  const listBox = h("div", {});
  const fresh = h("div", { "aria-live": "polite" });
  // The private key lives in this page only while it is on screen: its blob: URL goes with it.
  const forget = () => {
    for (const a of fresh.querySelectorAll("a[download]")) URL.revokeObjectURL(a.href);
    fresh.replaceChildren();
  };

  async function refresh() {
    const list = await api.get(`/projects/${id}/keys`);
    listBox.replaceChildren(table("Keys", ["Kid", "Created", "Public key", ""], list.map((k) => {
      const delErr = h("span", { class: "error", role: "alert" });
      const del = canWrite ? h("button", { type: "button", class: "danger small" }, "Delete", h("span", { class: "sr-only" }, " " + k.kid)) : null;
      if (del) del.addEventListener("click", async () => {
        if (!(await confirmDialog(`Delete ${k.kid}? Its tokens stop working and its live sessions close within 2 s.`))) return;
        const ok = await busy(del, delErr, () => api.del(`/projects/${id}/keys/${api.seg(k.kid)}`).then(() => true), "Deleting…");
        if (ok) refresh().catch((e) => (delErr.textContent = e.message));
      });
      return [h("code", {}, k.kid), when(k.created_at),
        h("details", {}, h("summary", {}, "Show"), h("pre", { tabindex: 0 }, k.public_key)), h("span", {}, del, delErr)];
    }), "No key yet: generate one below."));
  }
  await refresh();
  root.append(listBox, fresh);
  if (!canWrite) {
    root.append(h("p", { class: "muted" }, "Your role here is viewer: you can look, not change."));
    return;
  }

  const gen = h("button", { type: "button", id: "generate-key" }, "Generate a key pair");
  const genErr = h("p", { class: "error", role: "alert" });
  gen.addEventListener("click", async () => {
    forget();
    const made = await busy(gen, genErr, async () => {
      const pair = await generatePair();
      const added = await api.post(`/projects/${id}/keys`, { public_key: pair.publicPem });
      return { kid: added.kid, privatePem: pair.privatePem };
    }, "Generating…");
    if (!made) return;
    fresh.replaceChildren(privateKeyCard(made.kid, made.privatePem));
    await refresh().catch((e) => (genErr.textContent = e.message));
    fresh.querySelector("h2").tabIndex = -1;
    fresh.querySelector("h2").focus();
  });

  const pasted = h("textarea", { name: "public_key", rows: 5, class: "mono", spellcheck: "false" });
  const reg = h("button", { type: "submit" }, "Register");
  const regField = field("Public key (SPKI PEM or JWK)", pasted, "Only the public half: -----BEGIN PUBLIC KEY----- … or {\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":…,\"y\":…}");
  const regForm = h("form", { class: "card", "aria-labelledby": "reg-title" }, h("h2", { id: "reg-title" }, "Register a public key"), regField, reg);
  regForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ok = await busy(reg, regField.error, async () => {
      await api.post(`/projects/${id}/keys`, { public_key: publicKeyBody(pasted.value) });
      return true;
    }, "Registering…");
    if (ok) {
      pasted.value = "";
      await refresh().catch((e) => (regField.error.textContent = e.message));
    }
  });

  root.append(
    h("section", { class: "card", "aria-labelledby": "gen-title" },
      h("h2", { id: "gen-title" }, "Generate in this browser"),
      h("p", {}, "The pair is made here with WebCrypto; only the public key is sent to the box. You get the private key once."),
      gen, genErr),
    regForm,
  );
  return forget;
}
