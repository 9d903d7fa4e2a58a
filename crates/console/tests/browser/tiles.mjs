// The console's map with a tile server configured: the broker was started with
// `--console-tiles http://127.0.0.1:<port>/{z}/{x}/{y}.png`, and this script serves that port
// (a 1-pixel PNG for any tile). Checks that the map asks the tile server for tiles, shows
// them, and that the page's policy lets them in (no error in the page's log).
//
//   node tiles.mjs http://127.0.0.1:1026 <tile-port>

import http from "node:http";
import { chromium } from "playwright-core";

const base = (process.argv[2] || "http://127.0.0.1:1026").replace(/\/$/, "");
const tilePort = Number(process.argv[3]);
const tenant = `tiles${Date.now().toString(36)}`;
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

let tiles = 0;
const server = http.createServer((req, res) => {
  tiles += /^\/\d+\/\d+\/\d+\.png$/.test(req.url) ? 1 : 0;
  res.writeHead(200, { "Content-Type": "image/png", "Content-Length": PNG.length }).end(PNG);
});
await new Promise((resolve) => server.listen(tilePort, "127.0.0.1", resolve));

const created = await fetch(`${base}/ngsi-ld/v1/entities`, {
  method: "POST",
  headers: { "Content-Type": "application/json", "NGSILD-Tenant": tenant },
  body: JSON.stringify({
    id: "urn:ngsi-ld:ParkingSpot:t1", type: "ParkingSpot",
    location: { type: "GeoProperty", value: { type: "Point", coordinates: [2.15, 41.39] } },
  }),
});
check(created.status === 201, "a located entity is made");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const errors = [];
try {
  const context = await browser.newContext();
  await context.addInitScript((t) => localStorage.setItem("rigel.tenant", t), tenant);
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(`${base}/console/#/map?type=ParkingSpot`);
  await page.waitForSelector('body[data-ready="map"]', { timeout: 15000 });
  await page.waitForSelector(".leaflet-tile-loaded", { timeout: 10000 });
  check(tiles > 0, `the map asked the tile server for tiles (${tiles})`);
  check(await page.locator(".leaflet-tile-loaded").count() > 0, "the tiles are shown");
  const status = await page.textContent("#map-status");
  check(!status.includes("plain background"), "the map does not say it has no tiles");
  check(errors.length === 0, `no error in the page's log${errors.length ? `: ${errors.join(" | ")}` : ""}`);
} finally {
  await browser.close();
  server.close();
}
console.log("tiles: OK");
