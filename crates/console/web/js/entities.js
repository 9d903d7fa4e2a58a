// The entity browser: the entities of a type in the current tenant, filtered by q, a page at
// a time, with the total the broker counts.

import { API, call, query } from "./api.js";
import { el, entityLink, short, show, table, when } from "./dom.js";
import { filterForm } from "./filter.js";

const SIZES = [20, 50, 100];

export async function entitiesView(view, params, { go, current }) {
  const limit = SIZES.includes(Number(params.limit)) ? Number(params.limit) : 20;
  const offset = Math.max(0, Number(params.offset) || 0);
  const { form, type } = await filterForm(params, (f) => go("entities", f), [
    el("label", {}, "Per page",
      el("select", { name: "limit" },
        SIZES.map((s) => el("option", { value: s, selected: s === limit }, s)))),
  ]);
  if (!current()) return;
  if (!type) {
    show(view, el("h1", {}, "Entities"), form, el("p", { class: "muted" },
      "This tenant holds no entities yet."));
    return;
  }
  const { body, headers } = await call(`${API}/entities${query({
    type, q: params.q, limit, offset, count: "true", options: "sysAttrs",
  })}`);
  if (!current()) return;
  const total = Number(headers.get("NGSILD-Results-Count") ?? body.length);
  const rows = body.map((entity) => [
    entityLink(entity.id),
    attributeSummary(entity),
    when(entity.modifiedAt),
  ]);
  const page = (to) => go("entities", { type, q: params.q, limit, offset: to });
  const pager = el("div", { class: "pager" },
    el("button", { disabled: offset === 0, onclick: () => page(Math.max(0, offset - limit)) },
      "‹ Previous"),
    el("span", { class: "range" }, total === 0 ? "no match"
      : `${offset + 1}–${offset + body.length} of ${total.toLocaleString()}`),
    el("button", { disabled: offset + body.length >= total, onclick: () => page(offset + limit) },
      "Next ›"));
  show(view,
    el("h1", {}, "Entities"),
    form,
    pager,
    table(["Entity", "Attributes", "Modified"], rows, { id: "entities" }));
}

const SYSTEM = new Set(["id", "type", "@context", "createdAt", "modifiedAt", "deletedAt", "scope"]);

/** "name: value" for the first attributes, relationships as their object. */
function attributeSummary(entity) {
  const parts = [];
  for (const [name, attribute] of Object.entries(entity)) {
    if (SYSTEM.has(name)) continue;
    const first = Array.isArray(attribute) ? attribute[0] : attribute;
    const value = first?.object ?? first?.objectList ?? first?.value ?? first?.languageMap
      ?? first?.vocab ?? first?.json ?? first?.valueList;
    parts.push(`${name}: ${short(value, 60)}`);
    if (parts.length === 5) break;
  }
  return el("span", { class: "muted" }, parts.join(" · "));
}
