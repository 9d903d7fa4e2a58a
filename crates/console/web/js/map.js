// The map: the entities of a type (filtered by q) that have a GeoProperty, drawn from the
// broker's GeoJSON answers. Without a tile server configured (--console-tiles) the shapes are
// drawn on a plain background, so it works with no internet.

import { API, call, query } from "./api.js";
import { el, entityLink, short, show } from "./dom.js";
import { filterForm } from "./filter.js";

const PAGE = 1000;
const PALETTE = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#57606a"];
const MOST = 10000;
let config;

async function consoleConfig() {
  if (!config) config = (await (await fetch("/console/config.json")).json());
  return config;
}

export async function mapView(view, params, { go, current }) {
  const geometry = params.geometry || "location";
  const colour = params.colour || "";
  const [{ form, type }, settings] = await Promise.all([
    filterForm(params, (f) => go("map", f), [
      el("label", {}, "GeoProperty", el("input", { name: "geometry", value: geometry, size: 12 })),
      el("label", {}, "Colour by", el("input", { name: "colour", value: colour, size: 12,
        placeholder: "an attribute" })),
    ]),
    consoleConfig(),
  ]);
  if (!current()) return;
  const status = el("p", { class: "muted", id: "map-status" }, "Loading…");
  const box = el("div", { id: "map" });
  show(view, el("h1", {}, "Map"), form, status, box);
  const map = window.L.map(box, { preferCanvas: true, worldCopyJump: true });
  box.leafletMap = map;
  if (settings.tiles) {
    window.L.tileLayer(settings.tiles, { attribution: settings.tilesAttribution || "", maxZoom: 19 })
      .addTo(map);
  }
  window.L.control.scale().addTo(map);
  map.setView([20, 0], 2);
  if (!type) {
    status.textContent = "This tenant holds no entities yet.";
    return;
  }
  // Only the geometry (and the colouring attribute): the rest is read when a shape is
  // clicked. The first page says how many there are; the others are asked for together.
  let size = PAGE;
  const page = (offset) => call(`${API}/entities${query({
    type, q: params.q, geometryProperty: geometry,
    attrs: colour ? `${geometry},${colour}` : geometry, limit: size, offset,
    count: offset === 0 ? "true" : undefined,
  })}`, { accept: "application/geo+json" });
  let first;
  try {
    first = await page(0);
  } catch (error) {
    // A broker with a smaller --max-page-size refuses 1,000 (403 TooManyResults).
    if (error.status !== 403) throw error;
    size = 100;
    first = await page(0);
  }
  const total = Number(first.headers.get("NGSILD-Results-Count") ?? 0);
  const rest = [];
  for (let offset = size; offset < Math.min(total, MOST); offset += size) rest.push(page(offset));
  const pages = [first, ...(await Promise.all(rest))];
  if (!current()) return;
  const features = pages.flatMap(({ body }) => (body?.features ?? []).filter((f) => f.geometry));
  const colours = colourScale(features, colour);
  const layer = window.L.geoJSON(features, {
    pointToLayer: (feature, at) => window.L.circleMarker(at, {
      radius: 6, color: colours.of(feature), weight: 2, fillOpacity: 0.6,
    }),
    style: (feature) => ({ color: colours.of(feature), weight: 2 }),
    onEachFeature: (feature, shape) => shape.on("click", () => open(shape, feature.id)),
  }).addTo(map);
  if (features.length) map.fitBounds(layer.getBounds(), { maxZoom: 17, padding: [20, 20] });
  box.dataset.features = String(features.length);
  if (colours.legend.length) {
    view.append(el("ul", { class: "legend", id: "legend" }, colours.legend.map(([value, c, n]) => {
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = c; // through the CSSOM: the page's policy bars style attributes
      return el("li", {}, swatch, `${value} (${n})`);
    })));
  }
  const shown = total > MOST ? ` (the first ${MOST.toLocaleString()} of ${total.toLocaleString()})` : "";
  status.textContent = `${features.length.toLocaleString()} entities with ${geometry}${shown}` +
    (settings.tiles ? "" : " · no tile server configured: plain background");
}

/** A popup with the entity's first attributes, read when its shape is clicked. */
async function open(shape, id) {
  let lines;
  try {
    const { body } = await call(`${API}/entities/${encodeURIComponent(id)}${query({
      options: "keyValues",
    })}`);
    lines = Object.entries(body || {})
      .filter(([name]) => !["id", "type", "@context"].includes(name))
      .slice(0, 6)
      .map(([name, value]) => el("div", {}, `${name}: ${short(value, 50)}`));
  } catch (error) {
    lines = [el("div", { class: "muted" }, error.message)];
  }
  shape.unbindPopup();
  shape.bindPopup(el("div", {}, el("strong", {}, entityLink(id)), lines)).openPopup();
}

/** A colour per distinct value of the attribute (the 7 commonest, the rest grey). */
function colourScale(features, attribute) {
  const valueOf = (feature) => {
    const a = feature.properties?.[attribute];
    const first = Array.isArray(a) ? a[0] : a;
    return short(first?.value ?? first?.object ?? first?.vocab ?? "(none)", 40);
  };
  if (!attribute) return { of: () => PALETTE[0], legend: [] };
  const counts = new Map();
  for (const f of features) counts.set(valueOf(f), (counts.get(valueOf(f)) || 0) + 1);
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const colours = new Map(ranked.slice(0, PALETTE.length - 1).map(([v], i) => [v, PALETTE[i]]));
  const other = PALETTE[PALETTE.length - 1];
  return {
    of: (feature) => colours.get(valueOf(feature)) ?? other,
    legend: ranked.map(([value, n]) => [value, colours.get(value) ?? other, n]),
  };
}
