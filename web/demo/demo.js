// The /demo page: mints a token in the browser with WebCrypto, joins a group, lists peers,
// opens a data channel (and video when a camera exists) to a chosen peer.
import { Edgebeam, peerKey } from "/sdk/edgebeam.js";

const $ = (sel) => document.querySelector(sel);
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const text = (s) => new TextEncoder().encode(s);

/** A compact ES256 JWS; WebCrypto's ECDSA signature is already the JOSE r||s form. */
export async function mintToken(pem, kid, gid, pid, ttl = 600) {
  const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(text(JSON.stringify({ alg: "ES256", typ: "JWT", kid })));
  const payload = b64url(text(JSON.stringify({ gid, pid, iat: now, exp: now + ttl })));
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, text(`${header}.${payload}`));
  return `${header}.${payload}.${b64url(sig)}`;
}

function log(line) {
  const li = document.createElement("li");
  li.textContent = line;
  $("#log").append(li);
}

let client;
let localStream = null;

function wireCall(call) {
  call.addEventListener("datachannel", ({ channel }) => {
    channel.onopen = () => log(`data channel to ${peerKey(call.peer)} open`);
    channel.onmessage = (ev) => log(`${peerKey(call.peer)}: ${ev.data}`);
  });
  call.addEventListener("track", ({ streams }) => {
    const id = `v-${peerKey(call.peer).replace(/[^a-z0-9]/gi, "_")}`;
    if (document.getElementById(id)) return;
    const v = Object.assign(document.createElement("video"), { id, autoplay: true, playsInline: true, srcObject: streams[0] });
    $("#videos").append(v);
  });
  call.addEventListener("state", ({ state }) => log(`call with ${peerKey(call.peer)}: ${state}`));
}

function renderPeers() {
  const ul = $("#peers");
  ul.replaceChildren();
  for (const peer of client.peers.values()) {
    const li = document.createElement("li");
    li.textContent = peerKey(peer);
    const btn = Object.assign(document.createElement("button"), { textContent: "Call" });
    btn.onclick = () => {
      const call = client.call(peer, { stream: localStream || undefined });
      wireCall(call);
      call.createDataChannel("chat");
    };
    li.append(btn);
    ul.append(li);
  }
}

async function join(form) {
  const f = new FormData(form);
  const [kid, pem, gid, pid] = ["kid", "pem", "gid", "pid"].map((k) => String(f.get(k)).trim());
  client = new Edgebeam({
    url: `wss://${location.host}/v1/signal`,
    getToken: () => mintToken(pem, kid, gid, pid),
    forceRelay: f.get("relay") === "on",
  });
  client.addEventListener("presence", renderPeers);
  client.addEventListener("welcome", renderPeers);
  client.addEventListener("call", ({ call }) => wireCall(call));
  client.addEventListener("close", ({ code, reason }) => log(`signaling closed: ${code} ${reason}`));
  const welcome = await client.connect();
  $("#me").textContent = `joined as ${peerKey(welcome.self)}`;
  $("#join").hidden = true;
  $("#room").hidden = false;
  try {
    if (navigator.mediaDevices && (await navigator.mediaDevices.enumerateDevices()).some((d) => d.kind === "videoinput")) {
      localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      const v = Object.assign(document.createElement("video"), { autoplay: true, muted: true, playsInline: true, srcObject: localStream });
      $("#videos").append(v);
    }
  } catch (e) {
    log(`no camera: ${e.message}`);
  }
}

$("#join").addEventListener("submit", (ev) => {
  ev.preventDefault();
  join(ev.target).catch((e) => log(`cannot join: ${e.code || ""} ${e.message}`));
});

$("#chat").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = ev.target.elements.text;
  for (const call of client._calls.values()) {
    const ch = call.channels.get("chat");
    if (ch && ch.readyState === "open") ch.send(input.value);
  }
  log(`me: ${input.value}`);
  input.value = "";
});
