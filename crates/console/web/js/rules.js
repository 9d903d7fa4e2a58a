// Ingestion rules (MQTT topics turned into entity writes) with their counters and connection.

import { call } from "./api.js";
import { el, show, short, table, when } from "./dom.js";

export async function rulesView(view, _params, { current }) {
  const { body } = await call("/ngsi-ld/ex/v1/ingestion/rules");
  if (!current()) return;
  const rows = (body || []).map((rule) => {
    const c = rule.counters || {};
    const connection = rule.connection || {};
    return [
      rule.id,
      `${rule.broker ?? ""} ${rule.topic ?? ""}`,
      el("span", { class: `status-${connection.status}`, title: connection.reason ?? "" },
        connection.status ?? ""),
      String(c.received ?? 0),
      String(c.applied ?? 0),
      String(c.rejected ?? 0),
      String(c.deadLettered ?? 0),
      c.lastRejection ? `${when(c.lastRejection.at)}: ${short(c.lastRejection.reason, 100)}` : "",
    ];
  });
  show(view,
    el("h1", {}, "Ingestion rules"),
    rows.length ? table(["Rule", "Broker and topic", "Connection", "Received", "Applied",
      "Rejected", "Dead-lettered", "Last rejection"], rows, { id: "rules" })
      : el("p", { class: "muted" }, "No ingestion rules (docs/ingestion.md says how to add one)."));
}
