// The admin UI's entry: decides between the setup page (/setup#TOKEN), sign-in and the signed-in
// shell, and routes the shell's sections by the location hash (#/projects, #/peers?project=…).

import * as api from "./api.js";
import { h } from "./ui.js";
import setupPage from "./setup.js";
import signinPage from "./signin.js";
import dashboard from "./dashboard.js";
import projects from "./projects.js";
import keys from "./keys.js";
import members from "./members.js";
import peers from "./peers.js";
import webhooks from "./webhooks.js";
import usage from "./usage.js";
import audit from "./audit.js";
import tls from "./tls.js";
import turn from "./turn.js";
import tokens from "./tokens.js";
import apikeys from "./apikeys.js";
import accounts from "./accounts.js";

const PAGES = {
  dashboard: ["Dashboard", dashboard],
  projects: ["Projects", projects],
  keys: ["Keys", keys],
  members: ["Members", members],
  peers: ["Live peers", peers],
  webhooks: ["Webhooks", webhooks],
  usage: ["Usage", usage],
  audit: ["Audit log", audit],
  tls: ["TLS", tls],
  turn: ["TURN", turn],
  tokens: ["Token tester", tokens],
  "api-keys": ["API keys", apikeys],
  accounts: ["Accounts", accounts],
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

/** The signed-in account ({username, role, …}) or null. */
let me = null;
/** What the page on screen asked to run when it goes (timers). */
let cleanup = null;

function leavePage() {
  if (cleanup) cleanup();
  cleanup = null;
}

/** Replaces the main area with `nodes` and moves focus to its heading for screen readers. */
function show(title, nodes, focus = true) {
  main.replaceChildren(...nodes.flat().filter(Boolean));
  document.title = title + " · edgebeam";
  const h1 = main.querySelector("h1");
  if (focus && h1) {
    h1.tabIndex = -1;
    h1.focus({ preventScroll: true });
  }
}

/** The hash route: ["peers", URLSearchParams]. */
export function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [name, query] = raw.split("?");
  return [name || "dashboard", new URLSearchParams(query || "")];
}

/** Moves to a section with query parameters (used by pages to link to each other). */
export function go(name, params) {
  const q = params ? "?" + new URLSearchParams(params).toString() : "";
  location.hash = "#/" + name + q;
}

async function renderRoute() {
  if (!me) return;
  leavePage();
  const [name, params] = currentRoute();
  const entry = PAGES[name] || PAGES.dashboard;
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === "#/" + (PAGES[name] ? name : "dashboard")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const ctx = { me, params, go };
  const container = h("div", { class: "page" });
  show(entry[0], [container], false);
  main.setAttribute("aria-busy", "true");
  try {
    cleanup = (await entry[1](container, ctx)) || null;
  } catch (e) {
    container.append(h("p", { class: "error", role: "alert" }, e.message));
  } finally {
    main.removeAttribute("aria-busy");
  }
  const h1 = main.querySelector("h1");
  if (h1) {
    h1.tabIndex = -1;
    h1.focus({ preventScroll: true });
  }
  document.title = entry[0] + " · edgebeam";
}

function enterShell(account) {
  me = account;
  api.setCsrf(account.csrf_token);
  document.getElementById("who-name").textContent = `${account.username} (${account.role})`;
  who.hidden = false;
  nav.hidden = false;
  for (const li of nav.querySelectorAll("[data-owner]")) li.hidden = account.role !== "owner";
  if (location.pathname !== "/") history.replaceState(null, "", "/" + (location.hash || "#/dashboard"));
  if (!location.hash) history.replaceState(null, "", "/#/dashboard");
  renderRoute();
}

function leaveShell(message) {
  leavePage();
  me = null;
  api.setCsrf(null);
  who.hidden = true;
  nav.hidden = true;
  show("Sign in", signinPage({ message, onSignedIn: enterShell }));
}

document.getElementById("signout").addEventListener("click", async (ev) => {
  const btn = ev.currentTarget;
  btn.disabled = true;
  try {
    await api.post("/logout");
    leaveShell("You are signed out.");
  } catch (e) {
    if (e.status !== 401) alertInMain(e.message);
  } finally {
    btn.disabled = false;
  }
});

function alertInMain(text) {
  main.prepend(h("p", { class: "error", role: "alert" }, text));
}

api.onSessionExpired(() => {
  if (me) leaveShell("Your session has expired. Sign in again.");
});

// Sections are "#/name" hashes; any other hash (the skip link's "#main") is not a route.
window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#/")) renderRoute();
});
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  main.focus();
});

async function boot() {
  if (location.pathname === "/setup") {
    // The token stays in this page's memory: it is taken off the address bar and history at once
    // and is sent nowhere but POST /api/v1/setup.
    const token = decodeURIComponent(location.hash.slice(1));
    history.replaceState(null, "", "/setup");
    show("Set up", setupPage({ token, onDone: enterShell }));
    return;
  }
  try {
    enterShell(await api.get("/me"));
  } catch (e) {
    leaveShell(e.status === 401 ? null : e.message);
  }
}

boot();
