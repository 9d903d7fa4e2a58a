// Measures how soon the console's first page is interactive over many entities of a type:
// seeds them (once per tenant), then loads /console in a fresh browser context each round
// (nothing cached) and times navigation start to the moment the entity list is shown and
// its controls respond (body[data-ready], set after the rows are in the page). Also times
// the map of the same type. Prints the median and the slowest round.
//
//   node first-page.mjs http://127.0.0.1:1026 [entities=10000] [rounds=15]

import { chromium } from "playwright-core";

const base = (process.argv[2] || "http://127.0.0.1:1026").replace(/\/$/, "");
const total = Number(process.argv[3] || 10000);
const rounds = Number(process.argv[4] || 15);
const tenant = `firstpage${total}`;
const type = "ParkingSpot";

async function seed() {
  const counted = await fetch(`${base}/ngsi-ld/v1/entities?type=${type}&count=true&limit=0`, {
    headers: { "NGSILD-Tenant": tenant },
  });
  const have = Number(counted.headers.get("NGSILD-Results-Count") || 0);
  for (let start = have; start < total; start += 1000) {
    const batch = [];
    for (let i = start; i < Math.min(total, start + 1000); i += 1) {
      batch.push({
        id: `urn:ngsi-ld:${type}:${String(i).padStart(6, "0")}`, type,
        status: { type: "Property", value: i % 3 ? "occupied" : "free", observedAt: "2026-12-07T08:00:00Z" },
        batteryLevel: { type: "Property", value: 50 + (i % 50), unitCode: "P1" },
        location: { type: "GeoProperty", value: { type: "Point",
          coordinates: [2.10 + (i % 100) * 0.001, 41.35 + Math.floor(i / 100) * 0.001] } },
        refParkingLot: { type: "Relationship", object: `urn:ngsi-ld:ParkingLot:${i % 20}` },
      });
    }
    const made = await fetch(`${base}/ngsi-ld/v1/entityOperations/upsert`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "NGSILD-Tenant": tenant },
      body: JSON.stringify(batch),
    });
    if (!made.ok) throw new Error(`seeding: ${made.status} ${await made.text()}`);
  }
}

async function time(browser, route, view) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.addInitScript((t) => localStorage.setItem("rigel.tenant", t), tenant);
  const page = await context.newPage();
  await page.goto(`${base}/console/#/${route}`);
  await page.waitForSelector(`body[data-ready="${view}"]`, { timeout: 30000 });
  const at = await page.evaluate(() => window.rigelConsole.at);
  const problem = await page.$eval("#problem", (p) => (p.hidden ? "" : p.textContent));
  await context.close();
  if (problem) throw new Error(problem);
  return at;
}

function summary(name, times) {
  const sorted = times.slice().sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`${name}: median ${median.toFixed(0)} ms, slowest ${sorted.at(-1).toFixed(0)} ms over ${times.length} rounds`);
}

await seed();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const first = [];
const map = [];
for (let i = 0; i < rounds; i += 1) {
  first.push(await time(browser, `entities?type=${type}`, "entities"));
  map.push(await time(browser, `map?type=${type}`, "map"));
}
await browser.close();
console.log(`${total} entities of ${type} in tenant ${tenant}`);
summary("first page (entity list, 20 rows, counted)", first);
summary(`map (every ${type} drawn)`, map);
