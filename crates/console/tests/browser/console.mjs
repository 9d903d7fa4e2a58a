// Drives Rigel's web console in headless Chromium: seeds a tenant through the public API,
// then loads each page as a user would and checks what it shows (entity list, filter and
// paging, an entity with its relationship link and history chart, the map, subscriptions
// with their delivery status, ingestion rules), that entity text never runs as markup, and
// that the page logs no error.
//
//   node console.mjs http://127.0.0.1:1026 [screenshot-dir]
//
// CHROMIUM names the browser (default /usr/bin/chromium). Exits non-zero on the first
// failed check, naming it.

import http from "node:http";
import { chromium } from "playwright-core";

const base = (process.argv[2] || "http://127.0.0.1:1026").replace(/\/$/, "");
const shots = process.argv[3];
const api = `${base}/ngsi-ld/v1`;
const tenant = `console${Date.now().toString(36)}`;
const SPOTS = 30;
const FREE = 12;
const HISTORY = 12;

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

async function send(method, path, body, headers = {}) {
  const response = await fetch(path.startsWith("http") ? path : `${api}${path}`, {
    method,
    headers: { "Content-Type": "application/json", "NGSILD-Tenant": tenant, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

/** A receiver of notifications on a free loopback port. */
function receiver() {
  return new Promise((resolve) => {
    let received = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => { received += 1; res.writeHead(204).end(); });
    });
    server.listen(0, "127.0.0.1", () => resolve({ server, port: server.address().port, count: () => received }));
  });
}

async function seed(notify) {
  const lot = "urn:ngsi-ld:ParkingLot:lotA";
  await send("POST", "/entities", {
    id: lot, type: "ParkingLot", name: { type: "Property", value: "Lot A" },
    location: { type: "GeoProperty", value: { type: "Polygon", coordinates: [[[2.150, 41.390],
      [2.156, 41.390], [2.156, 41.394], [2.150, 41.394], [2.150, 41.390]]] } },
  });
  await send("POST", "/subscriptions", {
    type: "Subscription", subscriptionName: "free spots", entities: [{ type: "ParkingSpot" }],
    watchedAttributes: ["status"],
    notification: { endpoint: { uri: `http://127.0.0.1:${notify.port}/notify` } },
  });
  const spots = [];
  for (let i = 1; i <= SPOTS; i += 1) {
    const n = String(i).padStart(3, "0");
    spots.push({
      id: `urn:ngsi-ld:ParkingSpot:lotA-${n}`, type: "ParkingSpot",
      status: { type: "Property", value: i <= FREE ? "free" : "occupied",
        observedAt: "2026-12-07T08:00:00Z" },
      batteryLevel: { type: "Property", value: 90 + (i % 7), unitCode: "P1",
        observedAt: "2026-12-07T08:00:00Z" },
      location: { type: "GeoProperty", value: { type: "Point",
        coordinates: [2.1505 + (i % 6) * 0.001, 41.3905 + Math.floor(i / 6) * 0.0007] } },
      refParkingLot: { type: "Relationship", object: lot },
      // Entity text is data, never markup: this must show as text and run nothing.
      note: { type: "Property", value: i === 1 ? '<img src=x onerror="window.__xss=1">' : "" },
    });
  }
  await send("POST", "/entityOperations/create", spots);
  const first = spots[0].id;
  for (let k = 1; k < HISTORY; k += 1) {
    const at = new Date(Date.UTC(2026, 11, 7, 8, k * 5)).toISOString();
    await send("PATCH", `/entities/${encodeURIComponent(first)}/attrs`, {
      batteryLevel: { type: "Property", value: 90 - k * 2 + (k % 3), unitCode: "P1", observedAt: at },
    });
  }
  // The spot is taken at 09:00 and freed at 09:30: the status chart steps between the two.
  for (const [value, at] of [["occupied", "2026-12-07T09:00:00Z"], ["free", "2026-12-07T09:30:00Z"]]) {
    await send("PATCH", `/entities/${encodeURIComponent(first)}/attrs`, {
      status: { type: "Property", value, observedAt: at },
    });
  }
  await send("POST", `${base}/ngsi-ld/ex/v1/ingestion/rules`, {
    id: `${tenant}-spots`, broker: "mqtt://127.0.0.1:1", topic: "sensors/parking/+",
    tenant, entity: { id: "urn:ngsi-ld:ParkingSpot:{sensor_id}", type: "ParkingSpot" },
    attributes: { status: { field: "status" } }, required: ["sensor_id", "status"],
  });
  return first;
}

/** How many pixels of the canvas are drawn on (not transparent). */
async function inked(page, selector) {
  return page.$eval(selector, (canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n += 1;
    return n;
  });
}

async function ready(page, view) {
  await page.waitForSelector(`body[data-ready="${view}"]`, { timeout: 15000 });
  const problem = await page.$eval("#problem", (p) => (p.hidden ? "" : p.textContent));
  check(problem === "", `${view}: no error shown${problem ? ` (${problem})` : ""}`);
}

async function main() {
  const notify = await receiver();
  const first = await seed(notify);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  const errors = [];
  const outside = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("request", (r) => { if (!r.url().startsWith(base)) outside.push(r.url()); });
    page.on("response", (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });

    // The entity browser: the tenant set in the settings form, the first type chosen.
    await page.goto(`${base}/console/`);
    await ready(page, "entities");
    await page.fill("#settings input[name=tenant]", tenant);
    await page.click("#settings button[type=submit]");
    await page.waitForFunction(() => document.querySelectorAll("#entities tbody tr").length > 0);
    await ready(page, "entities");
    await page.selectOption("form.filter select[name=type]", "ParkingSpot");
    await page.click("form.filter button[type=submit]");
    await page.waitForFunction((n) => document.querySelector(".range")?.textContent === `1–20 of ${n}`, SPOTS);
    check(await page.locator("#entities tbody tr").count() === 20, "entities: a page of 20 rows");
    await page.click("text=Next ›");
    await page.waitForFunction((n) => document.querySelector(".range")?.textContent === `21–${n} of ${n}`, SPOTS);
    check(true, `entities: the next page ends at ${SPOTS}`);
    await page.fill("form.filter input[name=q]", 'status=="free"');
    await page.click("form.filter button[type=submit]");
    await page.waitForFunction((n) => document.querySelector(".range")?.textContent === `1–${n} of ${n}`, FREE);
    check(true, `entities: q=status=="free" finds the ${FREE} free spots`);
    await page.fill("form.filter input[name=q]", "");
    await page.selectOption("form.filter select[name=limit]", "50");
    await page.click("form.filter button[type=submit]");
    await page.waitForFunction((n) => document.querySelector(".range")?.textContent === `1–${n} of ${n}`, SPOTS);
    check(await page.locator("#entities tbody tr").count() === SPOTS, "entities: 50 per page shows all 30");
    await page.fill("form.filter input[name=q]", 'status=="free"');
    await page.click("form.filter button[type=submit]");
    await page.waitForFunction((n) => document.querySelector(".range")?.textContent === `1–${n} of ${n}`, FREE);
    if (shots) await page.screenshot({ path: `${shots}/entities.png` });

    // An entity: attributes, the relationship as a link, the history chart.
    await page.goto(`${base}/console/#/entity?id=${encodeURIComponent(first)}`);
    await ready(page, "entity");
    const rows = await page.locator("#attributes tbody tr").count();
    check(rows === 5, `entity: its 5 attributes listed (${rows})`);
    const note = await page.locator("#attributes td.value", { hasText: "<img" }).count();
    check(note === 1, "entity: markup in a value is shown as text");
    check(await page.evaluate(() => window.__xss) === undefined, "entity: markup in a value runs nothing");
    const chart = '.chart[data-attribute="batteryLevel"]';
    const points = await page.$eval(chart, (c) => Number(c.dataset.points));
    check(points === HISTORY, `entity: the batteryLevel chart has its ${HISTORY} history points (${points})`);
    check(await inked(page, `${chart} canvas`) > 200, "entity: the chart is drawn");
    const states = '.chart[data-attribute="status"]';
    const steps = await page.$eval(states, (c) => Number(c.dataset.points));
    check(steps === 3, `entity: the status chart has its 3 changes (${steps})`);
    const axis = await page.$eval(`${states} .u-legend`, (l) => l.textContent);
    check(await inked(page, `${states} canvas`) > 200 && axis.includes("status"),
      "entity: the status chart steps between free and occupied");
    if (shots) await page.screenshot({ path: `${shots}/entity.png`, fullPage: true });
    await page.click('#attributes a.entity-link[href*="ParkingLot"]');
    await ready(page, "entity");
    check((await page.textContent("h1")) === "urn:ngsi-ld:ParkingLot:lotA", "entity: the relationship link opens its object");

    // The map, with no tile server: every located spot drawn on a plain background.
    await page.goto(`${base}/console/#/map?type=ParkingSpot`);
    await ready(page, "map");
    const features = await page.$eval("#map", (m) => Number(m.dataset.features));
    check(features === SPOTS, `map: the ${SPOTS} spots are on it (${features})`);
    check(await page.locator(".leaflet-tile").count() === 0, "map: no tiles asked for");
    check(await inked(page, "#map .leaflet-overlay-pane canvas") > 100, "map: the spots are drawn");
    // Clicking a spot opens its popup, read from the broker then.
    const spot = await page.evaluate(() => {
      const map = document.querySelector("#map").leafletMap;
      const point = map.latLngToContainerPoint([41.3905, 2.1515]);
      const box = document.querySelector("#map").getBoundingClientRect();
      return { x: box.left + point.x, y: box.top + point.y };
    });
    await page.mouse.click(spot.x, spot.y);
    await page.waitForSelector(".leaflet-popup-content a.entity-link", { timeout: 5000 });
    const popup = await page.textContent(".leaflet-popup-content");
    check(popup.includes("lotA-001") && popup.includes("status: free"), "map: a spot's popup shows its attributes");
    await page.waitForTimeout(400); // the popup fades in
    if (shots) await page.screenshot({ path: `${shots}/map.png` });
    await page.goto(`${base}/console/#/map?type=ParkingSpot&colour=status`);
    await ready(page, "map");
    const legend = await page.locator("#legend li").allTextContents();
    check(legend.join(",") === `occupied (${SPOTS - FREE}),free (${FREE})`,
      `map: coloured by status, with a legend (${legend.join(", ")})`);
    if (shots) await page.screenshot({ path: `${shots}/map-status.png` });

    // Subscriptions with delivery status: the seeding notified the receiver.
    for (let i = 0; i < 100 && notify.count() === 0; i += 1) await new Promise((r) => setTimeout(r, 100));
    await page.goto(`${base}/console/#/subscriptions`);
    await ready(page, "subscriptions");
    const row = page.locator("#subscriptions tbody tr", { hasText: "free spots" });
    check(await row.count() === 1, "subscriptions: the subscription is listed");
    const cells = await row.locator("td").allTextContents();
    check(cells[2] === "active" && cells[3] === "ok" && Number(cells[4]) >= 1,
      `subscriptions: active, delivered ok, sent ${cells[4]}`);
    if (shots) await page.screenshot({ path: `${shots}/subscriptions.png` });

    await page.goto(`${base}/console/#/rules`);
    await ready(page, "rules");
    check(await page.locator("#rules tbody tr", { hasText: `${tenant}-spots` }).count() === 1,
      "rules: the ingestion rule is listed with its counters");
    if (shots) await page.screenshot({ path: `${shots}/rules.png` });

    check(errors.length === 0, `no error in the page's log${errors.length ? `: ${errors.join(" | ")}` : ""}`);
    check(outside.length === 0, `nothing fetched from outside the broker${outside.length ? `: ${outside[0]}` : ""}`);
  } finally {
    await browser.close();
    notify.server.close();
    await fetch(`${base}/ngsi-ld/ex/v1/ingestion/rules/${tenant}-spots`, { method: "DELETE" }).catch(() => {});
  }
  console.log("console: OK");
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
