// The admin API client: JSON in and out, X-CSRF-Token on every change made with a session, and
// every error answer ({error, message}) turned into an ApiError whose message a person can read.

const BASE = "/api/v1";
let csrf = null;

/** Called with the error when the session is gone (401 on anything but login/setup). */
let onExpired = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function setCsrf(token) {
  csrf = token || null;
}

export function onSessionExpired(fn) {
  onExpired = fn;
}

/** Sends one request; resolves to the parsed body (null for 204), rejects with an ApiError. */
export async function request(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrf) headers["X-CSRF-Token"] = csrf;
  let res;
  try {
    res = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, "network", "The box did not answer (" + e.message + "). Is it running?");
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.ok) return data;
  const code = data && data.error ? data.error : "http_" + res.status;
  let message = data && data.message ? data.message : res.status + " " + res.statusText;
  if (res.status === 429) {
    const wait = res.headers.get("Retry-After");
    if (wait) message += " Try again in " + wait + " s.";
  }
  const err = new ApiError(res.status, code, message);
  if (res.status === 401 && code === "unauthenticated" && path !== "/login" && path !== "/setup") {
    csrf = null;
    onExpired(err);
  }
  throw err;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const del = (path) => request("DELETE", path);

/** A path segment, escaped. */
export const seg = (s) => encodeURIComponent(s);

/** GET /healthz (outside /api/v1): version and uptime; answers 503 with the same body when unhealthy. */
export async function health() {
  const res = await fetch("/healthz", { cache: "no-store" });
  return res.json();
}
