// A project's webhook endpoints (docs/webhooks.md): their status (enabled or why not, queued and
// dropped deliveries), a new one (its secret shown once), a test event, a secret rotation (the
// new secret shown once), deletion, and the recent delivery attempts of the one chosen.

import * as api from "./api.js";
import { h, field, busy, confirmDialog, table, when, copyButton } from "./ui.js";
import { projectPicker, canChange } from "./projectpick.js";

/** The event types an endpoint can ask for (webhook.test is sent only by "Send a test event"). */
export const EVENTS = [
  "peer.joined",
  "peer.left",
  "peer.kicked",
  "key.created",
  "key.deleted",
  "turn.allocation.created",
  "turn.allocation.deleted",
];

/** The once-only view of a secret (from creating an endpoint or rotating its secret). */
function secretCard(title, secret, note) {
  const input = h("input", { id: "webhook-secret", readonly: true, value: secret, class: "mono", spellcheck: "false" });
  return h("section", { class: "card secret", "aria-labelledby": "secret-title" },
    h("h2", { id: "secret-title", class: "wrap" }, title),
    h("p", { class: "notice" }, "Shown this once; the box cannot show it again. Store it with your backend now. ", note || ""),
    field("Signing secret", input), copyButton(input, "Copy the secret"));
}

function statusOf(w) {
  if (w.enabled) {
    const parts = [h("span", { class: "ok" }, "enabled")];
    if (w.previous_secret_until) parts.push(h("span", { class: "hint" }, ` (previous secret signs too until ${when(w.previous_secret_until)})`));
    return h("span", {}, parts);
  }
  return h("span", { class: "error" }, "disabled" + (w.disabled_reason ? ": " + w.disabled_reason : "") +
    (w.disabled_at ? ` (${when(w.disabled_at)})` : ""));
}

export default async function webhooks(root, ctx) {
  root.append(h("h1", {}, "Webhooks"), h("p", { class: "muted" },
    "Endpoints that get a signed POST for each event of this project they ask for. Deliveries are retried for 24 h; a 410 answer disables the endpoint."));
  const pick = await projectPicker("webhooks", ctx);
  root.append(pick.el);
  if (!pick.project) return;
  const id = api.seg(pick.project.id);
  const base = `/projects/${id}/webhooks`;
  const canWrite = canChange(ctx.me, pick.project.id);
  const listBox = h("div", { id: "webhook-list" });
  const listErr = h("p", { class: "error", role: "alert" });
  const fresh = h("div", { "aria-live": "polite" });
  const said = h("p", { class: "hint", id: "webhook-said", role: "status" });
  const deliveriesBox = h("section", { id: "deliveries", "aria-labelledby": "deliveries-title" });
  /** The endpoint whose deliveries are shown ({id, url}) or null. */
  let chosen = null;

  async function showDeliveries() {
    if (!chosen) {
      deliveriesBox.replaceChildren();
      return;
    }
    const err = h("p", { class: "error", role: "alert" });
    const again = h("button", { type: "button", class: "secondary small" }, "Refresh deliveries");
    again.addEventListener("click", () => busy(again, err, showDeliveries, "Refreshing…"));
    const list = await api.get(`${base}/${api.seg(chosen.id)}/deliveries?limit=50`);
    deliveriesBox.replaceChildren(
      h("h2", { id: "deliveries-title" }, "Recent deliveries"),
      h("p", { class: "muted wrap" }, chosen.url),
      h("div", { class: "row" }, again), err,
      table("Recent deliveries, newest first", ["Time", "Event", "Attempt", "Status", "Latency", "Error"], list.map((d) => [
        when(d.time),
        h("span", {}, d.event_type + " ", h("code", { class: "wrap" }, d.event_id)),
        String(d.attempt),
        d.status === null || d.status === undefined ? "no answer" : String(d.status),
        `${d.latency_ms} ms`,
        d.error || "—",
      ]), "No delivery attempt yet."),
    );
  }

  async function refresh() {
    const list = await api.get(base);
    if (chosen && !list.some((w) => w.id === chosen.id)) chosen = null;
    listBox.replaceChildren(table("Webhook endpoints", ["URL", "Events", "Status", "Queued", "Dropped", ""], list.map((w) => {
      const err = h("span", { class: "error", role: "alert" });
      const name = h("span", { class: "sr-only" }, " " + w.url);
      const show = h("button", { type: "button", class: "secondary small", "data-deliveries": w.id }, "Deliveries", name.cloneNode(true));
      show.addEventListener("click", async () => {
        chosen = { id: w.id, url: w.url };
        const ok = await busy(show, err, () => showDeliveries().then(() => true), "Loading…");
        if (ok) {
          const title = document.getElementById("deliveries-title");
          title.tabIndex = -1;
          title.focus();
        }
      });
      const controls = [show];
      if (canWrite) {
        const test = h("button", { type: "button", class: "secondary small", "data-test": w.id, disabled: !w.enabled }, "Send a test event", name.cloneNode(true));
        test.addEventListener("click", async () => {
          const made = await busy(test, err, () => api.post(`${base}/${api.seg(w.id)}/test`), "Sending…");
          if (!made) return;
          said.textContent = `Test event ${made.event_id} queued for ${w.url}.`;
          if (chosen && chosen.id === w.id) showDeliveries().catch((e) => (err.textContent = e.message));
        });
        const rotate = h("button", { type: "button", class: "secondary small", "data-rotate": w.id }, "Rotate secret", name.cloneNode(true));
        rotate.addEventListener("click", async () => {
          if (!(await confirmDialog(`Rotate the secret of ${w.url}? The old secret keeps signing beside the new one for 24 h.`, "Rotate"))) return;
          const made = await busy(rotate, err, () => api.post(`${base}/${api.seg(w.id)}/rotate-secret`), "Rotating…");
          if (!made) return;
          fresh.replaceChildren(secretCard(`New secret of ${w.url}`, made.secret,
            `The previous one keeps signing until ${when(made.previous_secret_until)}.`));
          refresh().catch((e) => (listErr.textContent = e.message));
        });
        const del = h("button", { type: "button", class: "danger small", "data-delete": w.id }, "Delete", name.cloneNode(true));
        del.addEventListener("click", async () => {
          if (!(await confirmDialog(`Delete the endpoint ${w.url}? Its queued deliveries go with it.`))) return;
          const ok = await busy(del, err, () => api.del(`${base}/${api.seg(w.id)}`).then(() => true), "Deleting…");
          if (ok) {
            said.textContent = `Deleted ${w.url}.`;
            refresh().catch((e) => (listErr.textContent = e.message));
          }
        });
        controls.push(test, rotate, del);
      }
      return [h("span", { class: "wrap" }, w.url), w.events.join(", "), statusOf(w), String(w.queued), String(w.dropped),
        h("span", {}, h("span", { class: "actions" }, controls), err)];
    }), "No webhook endpoint yet."));
    await showDeliveries();
  }

  await refresh();
  root.append(fresh, said, listErr, listBox, deliveriesBox);
  if (!canWrite) {
    root.append(h("p", { class: "muted" }, "Your role here is viewer: you can look, not change."));
    return;
  }

  const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://app.example.com/hooks/edgebeam", spellcheck: "false" });
  const urlField = field("URL", url, "http:// or https://; loopback and this box's own addresses are refused unless webhook_allow lists them.");
  const boxes = EVENTS.map((e) => h("input", { type: "checkbox", name: "events", value: e, id: "event-" + e.replaceAll(".", "-") }));
  const eventsErr = h("p", { class: "error", id: "events-err", role: "alert" });
  const events = h("fieldset", { class: "checks", "aria-describedby": eventsErr.id },
    h("legend", {}, "Events"),
    boxes.map((b) => h("div", { class: "check" }, b, h("label", { for: b.id }, b.value))));
  for (const b of boxes) b.addEventListener("change", () => (eventsErr.textContent = ""));
  const submit = h("button", { type: "submit" }, "Add endpoint");
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card", "aria-labelledby": "new-webhook", novalidate: true },
    h("h2", { id: "new-webhook" }, "New endpoint"), urlField, events, eventsErr, submit, err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const wanted = boxes.filter((b) => b.checked).map((b) => b.value);
    urlField.error.textContent = "";
    eventsErr.textContent = "";
    if (!url.value.trim()) {
      urlField.error.textContent = "Enter the URL to POST events to.";
      url.focus();
      return;
    }
    if (!wanted.length) {
      eventsErr.textContent = "Choose at least one event.";
      boxes[0].focus();
      return;
    }
    let made;
    try {
      made = await busy(submit, null, () => api.post(base, { url: url.value.trim(), events: wanted }), "Adding…");
    } catch (e) {
      // An error about the events goes by them; anything else is about the URL.
      if (/event/i.test(e.message)) eventsErr.textContent = e.message;
      else if (e.status === 400) urlField.error.textContent = e.message;
      else err.textContent = e.message;
      return;
    }
    url.value = "";
    for (const b of boxes) b.checked = false;
    fresh.replaceChildren(secretCard(`Secret of ${made.url}`, made.secret));
    await refresh().catch((e) => (err.textContent = e.message));
    const title = document.getElementById("secret-title");
    title.tabIndex = -1;
    title.focus();
  });
  root.append(form);
}
