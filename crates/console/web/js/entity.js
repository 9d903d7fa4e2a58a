// One entity: its attributes (every instance, with sub-attributes), relationships as links
// to their objects, and a chart of each numeric attribute's history from the temporal API.

import { API, call, query } from "./api.js";
import { el, entityLink, short, show, table, when } from "./dom.js";

const HISTORY_POINTS = 1000;
const MOST_CHARTS = 12;
const MOST_CATEGORIES = 8;
const META = new Set(["type", "value", "object", "objectList", "languageMap", "vocab", "json",
  "valueList", "observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt", "objectType",
  "lang", "instanceId"]);

export async function entityView(view, params, { current }) {
  if (!params.id) throw new Error("No entity id in the address (#/entity?id=...)");
  const path = `${API}/entities/${encodeURIComponent(params.id)}`;
  const { body: entity } = await call(`${path}${query({ options: "sysAttrs" })}`);
  if (!current()) return;
  const rows = [];
  const numeric = [];
  for (const [name, attribute] of Object.entries(entity)) {
    if (["id", "type", "@context", "createdAt", "modifiedAt", "scope"].includes(name)) continue;
    for (const instance of Array.isArray(attribute) ? attribute : [attribute]) {
      rows.push(attributeRow(name, instance));
      const value = instance?.type === "Property" ? instance.value : undefined;
      if (typeof value === "number" || (typeof value === "string" && value.length <= 40)) {
        numeric.push({ name, datasetId: instance.datasetId, unitCode: instance.unitCode,
          categories: typeof value === "string",
          // Values without an observation time are placed at the time the broker took them.
          timeproperty: instance.observedAt ? undefined : "modifiedAt" });
      }
    }
  }
  const charts = el("div", { class: "charts" });
  show(view,
    el("h1", {}, entity.id),
    el("dl", { class: "facts" },
      el("dt", {}, "Type"), el("dd", {}, [entity.type].flat().join(", ")),
      el("dt", {}, "Created"), el("dd", {}, when(entity.createdAt)),
      el("dt", {}, "Modified"), el("dd", {}, when(entity.modifiedAt)),
      entity.scope ? [el("dt", {}, "Scope"), el("dd", {}, [entity.scope].flat().join(", "))] : []),
    el("h2", {}, "Attributes"),
    table(["Name", "Kind", "Value", "Unit", "Observed", "Dataset", "Sub-attributes"], rows,
      { id: "attributes" }),
    numeric.length ? el("h2", {}, "History") : [],
    charts);
  await Promise.all(numeric.slice(0, MOST_CHARTS)
    .map((attribute) => drawHistory(charts, entity.id, attribute)));
}

function attributeRow(name, instance) {
  const kind = instance?.type ?? "";
  let value;
  if (instance?.object !== undefined) {
    value = [instance.object].flat().map((o) => entityLink(o));
  } else if (instance?.objectList !== undefined) {
    value = instance.objectList.map((o) => entityLink(o?.object ?? o));
  } else {
    value = short(instance?.value ?? instance?.languageMap ?? instance?.vocab ?? instance?.json
      ?? instance?.valueList, 300);
  }
  const subs = Object.entries(instance || {})
    .filter(([key]) => !META.has(key))
    .map(([key, sub]) => `${key}: ${short(sub?.value ?? sub?.object ?? sub, 60)}`)
    .join("; ");
  return [
    el("td", {}, name),
    el("td", {}, kind),
    el("td", { class: "value" }, value),
    el("td", {}, instance?.unitCode ?? ""),
    el("td", {}, when(instance?.observedAt)),
    el("td", {}, instance?.datasetId ?? ""),
    el("td", { class: "muted" }, subs),
  ];
}

/** One chart of an attribute's last values (of one dataset), or why there is none: a line
 *  for numbers, steps between the values for text with few distinct values (a status). */
async function drawHistory(charts, id, { name, datasetId, unitCode, categories, timeproperty }) {
  const title = `${name}${datasetId ? ` (${datasetId})` : ""}${unitCode ? ` [${unitCode}]` : ""}`;
  const box = el("div", { class: "chart", dataset: { attribute: name } }, el("h3", {}, title));
  charts.append(box);
  let series;
  try {
    const { body } = await call(`${API}/temporal/entities/${encodeURIComponent(id)}${query({
      attrs: name, options: "temporalValues", lastN: HISTORY_POINTS, timeproperty,
    })}`);
    const instances = [body?.[name] ?? []].flat();
    const mine = instances.find((i) => (i?.datasetId ?? null) === (datasetId ?? null));
    series = (mine?.values ?? [])
      .map(([value, at]) => [Date.parse(at) / 1000, value])
      .filter(([t, v]) => Number.isFinite(t) && typeof v === (categories ? "string" : "number"))
      .sort((a, b) => a[0] - b[0]);
  } catch (error) {
    box.append(el("p", { class: "muted" }, `No history: ${error.message}`));
    return;
  }
  const labels = categories ? [...new Set(series.map((p) => p[1]))].sort() : [];
  if (labels.length > MOST_CATEGORIES) {
    box.remove(); // free text, not a state: nothing to chart
    return;
  }
  box.dataset.points = String(series.length);
  if (series.length < 2) {
    box.append(el("p", { class: "muted" }, series.length === 0
      ? "No history kept for this attribute yet."
      : `One value so far: ${short(series[0][1], 60)}, ${when(series[0][0] * 1000)}.`));
    return;
  }
  const plot = el("div", { class: "plot" });
  box.append(plot);
  const ys = categories ? series.map((p) => labels.indexOf(p[1])) : series.map((p) => p[1]);
  // uPlot (vendor/uplot.js) draws on a canvas: x in seconds since the epoch.
  new window.uPlot({
    width: Math.max(320, box.clientWidth - 16),
    height: categories ? 60 + 30 * labels.length : 220,
    scales: { x: { time: true }, ...(categories ? { y: { range: [-0.5, labels.length - 0.5] } } : {}) },
    axes: categories ? [{}, { splits: () => labels.map((_, i) => i), values: () => labels.map((l) => short(l, 14)), size: 90 }]
      : [{}, {}],
    series: [{}, {
      label: name, stroke: "#1f6feb", width: 2, points: { show: series.length < 60 },
      ...(categories ? { paths: window.uPlot.paths.stepped({ align: 1 }) } : {}),
      ...(categories ? { value: (_, v) => (v === null ? "--" : labels[v] ?? "--") } : {}),
    }],
  }, [series.map((p) => p[0]), ys], plot);
}
