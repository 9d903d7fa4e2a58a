// Subscriptions of the tenant with their delivery status and counters.

import { API, call, query } from "./api.js";
import { el, show, table, when } from "./dom.js";

const PAGE = 100;

export async function subscriptionsView(view, params, { go, current }) {
  const offset = Math.max(0, Number(params.offset) || 0);
  const { body, headers } = await call(`${API}/subscriptions${query({
    limit: PAGE, offset, count: "true",
  })}`);
  if (!current()) return;
  const total = Number(headers.get("NGSILD-Results-Count") ?? body.length);
  const rows = body.map((s) => {
    const n = s.notification || {};
    return [
      el("span", { title: s.id }, s.subscriptionName || s.description || s.id),
      (s.entities || []).map((e) => e.type).filter(Boolean).join(", "),
      el("span", { class: `status-${s.status}` }, s.status ?? (s.isActive === false ? "paused" : "")),
      el("span", { class: `status-${n.status}` }, n.status ?? ""),
      String(n.timesSent ?? 0),
      String(n.timesFailed ?? 0),
      when(n.lastNotification),
      when(n.lastFailure),
      n.endpoint?.uri ?? "",
    ];
  });
  show(view,
    el("h1", {}, "Subscriptions"),
    el("p", { class: "muted" }, `${total.toLocaleString()} in this tenant`),
    table(["Subscription", "Types", "Status", "Delivery", "Sent", "Failed", "Last notification",
      "Last failure", "Endpoint"], rows, { id: "subscriptions" }),
    total > PAGE ? el("div", { class: "pager" },
      el("button", { disabled: offset === 0, onclick: () => go("subscriptions", { offset: offset - PAGE }) },
        "‹ Previous"),
      el("button", { disabled: offset + PAGE >= total, onclick: () => go("subscriptions", { offset: offset + PAGE }) },
        "Next ›")) : []);
}
