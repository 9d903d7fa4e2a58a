"use strict";
// Exercise iotagent-node-lib in NGSI-LD mode (memory registry, no MongoDB) against Rigel.
// Usage: BROKER_URL=http://localhost:1026 node try_iotagent.js
// The IoT Agent's own northbound API listens on IOTA_PORT (default 4041); it is also the
// subscription notification endpoint (<providerUrl>/notify).
const iotAgentLib = require("iotagent-node-lib");
const { BROKER_URL, step, summary } = require("./common");

const IOTA_PORT = Number(process.env.IOTA_PORT || 4041);
const SERVICE = process.env.IOTA_SERVICE || "smartgondor";
const SUBSERVICE = "/gardens";
const CTX = process.env.IOTA_JSON_LD_CONTEXT || "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";
const DEV_ENTITY = "urn:ngsi-ld:ParkingSpot:iota:001";
const GROUP_ENTITY_PREFIX = "urn:ngsi-ld:ParkingSpot:iota:";
const APIKEY = "rigel-test-key";

const config = {
    logLevel: process.env.IOTA_LOG_LEVEL || "FATAL",
    contextBroker: { url: BROKER_URL, ngsiVersion: "ld", jsonLdContext: CTX },
    server: { port: IOTA_PORT, host: "localhost" },
    deviceRegistry: { type: "memory" },
    types: {},
    service: SERVICE,
    subservice: SUBSERVICE,
    providerUrl: `http://127.0.0.1:${IOTA_PORT}`,
    defaultResource: "/iot/d",
    defaultType: "Thing",
    timestamp: false,
};

const p = (fn) => new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
const headers = { "fiware-service": SERVICE, "fiware-servicepath": SUBSERVICE, "Content-Type": "application/json" };

async function iota(method, path, body) {
    const r = await fetch(`http://127.0.0.1:${IOTA_PORT}${path}`, { method, headers, body: body && JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`IoTA ${method} ${path} -> ${r.status} ${text}`);
    return text ? JSON.parse(text) : {};
}

async function broker(path) {
    const r = await fetch(`${BROKER_URL}/ngsi-ld/v1${path}`, {
        headers: { Accept: "application/json", "NGSILD-Tenant": SERVICE },
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`broker GET ${path} -> ${r.status} ${text}`);
    return { body: text ? JSON.parse(text) : null, count: r.headers.get("NGSILD-Results-Count") };
}

async function cleanup() {
    // remove what earlier runs left in the broker (ignore errors, e.g. a tenant that does not exist yet)
    for (const id of [DEV_ENTITY, `${GROUP_ENTITY_PREFIX.replace(":iota:", ":")}spot002`]) {
        await fetch(`${BROKER_URL}/ngsi-ld/v1/entities/${id}`, { method: "DELETE", headers: { "NGSILD-Tenant": SERVICE } })
            .catch(() => {});
    }
}

(async () => {
    await cleanup();
    const notifications = [];
    const ok = await step("activate (memory registry, ngsiVersion ld)", () => p((cb) => iotAgentLib.activate(config, cb)));
    if (!ok) { process.exitCode = summary(); return; }
    iotAgentLib.setNotificationHandler((device, values, cb) => { notifications.push({ device: device.id, values }); cb(); });

    await step("provision group (POST /iot/services)", () => iota("POST", "/iot/services", {
        services: [{
            apikey: APIKEY, entity_type: "ParkingSpot", resource: "/iot/d",
            attributes: [{ object_id: "s", name: "status", type: "Property" }],
            static_attributes: [{ name: "category", type: "Property", value: ["onstreet"] }],
        }],
    }));
    await step("provision device (POST /iot/devices)", () => iota("POST", "/iot/devices", {
        devices: [{
            device_id: "spot001", entity_name: DEV_ENTITY, entity_type: "ParkingSpot", apikey: APIKEY,
            attributes: [{ object_id: "s", name: "status", type: "Property" }],
            static_attributes: [{ name: "location", type: "geo:json", value: { type: "Point", coordinates: [-3.8, 43.46] } }],
        }],
    }));
    await step("list provisioned devices (IoTA, no broker call)", async () => (await iota("GET", "/iot/devices")).count);

    const device = await step("retrieveDevice spot001", () => p((cb) => iotAgentLib.retrieveDevice("spot001", APIKEY, cb)));
    await step("update (measure) provisioned device -> POST /entityOperations/upsert/?options=update", () =>
        p((cb) => iotAgentLib.update(device.name, device.type, APIKEY, [{ name: "status", type: "Property", value: "free" }], device, cb)));
    await step("broker: GET entity created by IoTA (NGSILD-Tenant)", async () => (await broker(`/entities/${DEV_ENTITY}`)).body);

    // autoprovisioned device through the group (findOrCreate + update)
    const group = await step("getConfiguration (group /iot/d + apikey)", () =>
        p((cb) => iotAgentLib.getConfiguration("/iot/d", APIKEY, cb)));
    const anon = group && await step("findOrCreate anonymous device spot002 (autoprovision via group)", () =>
        p((cb) => iotAgentLib.findOrCreate("spot002", APIKEY, group, cb)));
    if (anon) {
        await step("update (measure) autoprovisioned device", () =>
            p((cb) => iotAgentLib.update(anon.name, anon.type, APIKEY, [{ name: "status", type: "Property", value: "occupied" }], anon, cb)));
    }
    await step("update with several attrs (number + geo:json)", () =>
        p((cb) => iotAgentLib.update(device.name, device.type, APIKEY, [
            { name: "status", type: "Property", value: "occupied" },
            { name: "occupancy", type: "Number", value: 1 },
            { name: "position", type: "geo:json", value: { type: "Point", coordinates: [-3.81, 43.47] } },
        ], device, cb)));
    await step("broker: query type=ParkingSpot&count=true (tenant)", async () => {
        const r = await broker(`/entities?type=ParkingSpot&count=true&q=${encodeURIComponent('status=="occupied"')}`);
        return { count: r.count, ids: r.body.map((e) => e.id) };
    });
    // iotagent-node-lib 4.14.0 sendQueryValueNgsiLD always prepends "urn:ngsi-ld:<type>:" to
    // the entity name (the update path only does so when the name is not already a URN), so
    // passing device.name ("urn:ngsi-ld:ParkingSpot:iota:001") would request
    // /entities/urn:ngsi-ld:ParkingSpot:urn:ngsi-ld:ParkingSpot:iota:001 and get a 404 from any
    // broker -- a library bug. Pass the name without the URN prefix instead.
    const shortName = device.name.startsWith(`urn:ngsi-ld:${device.type}:`)
        ? device.name.slice(`urn:ngsi-ld:${device.type}:`.length) : device.name;
    await step("iotAgentLib.query (GET entity ?attrs=status; name without urn prefix, library bug)", () =>
        p((cb) => iotAgentLib.query(shortName, device.type, APIKEY, ["status"], device, cb)));

    // subscription created by the IoT Agent, notifications delivered to <providerUrl>/notify
    // content=null -> the library sends notification.attributes: [] and stores the subscription in the device
    const subDevice = await step("subscribe, content=null (POST /ngsi-ld/v1/subscriptions/, attributes: [])", () =>
        p((cb) => iotAgentLib.subscribe(device, ["status"], null, "normalized", cb)));
    // content=["status"] -> non-empty notification.attributes; the library returns the Location instead
    const subLocation = await step("subscribe, content=[status] (non-empty notification.attributes)", () =>
        p((cb) => iotAgentLib.subscribe(device, ["status"], ["status"], "normalized", cb)));
    await step("broker: list subscriptions (tenant)", async () => (await broker("/subscriptions")).body.map((s) => s.id));
    if (subDevice || subLocation) {
        await step("notification to IoTA /notify after measure", async () => {
            notifications.length = 0;
            await p((cb) => iotAgentLib.update(device.name, device.type, APIKEY, [{ name: "status", type: "Property", value: "free" }], device, cb));
            const end = Date.now() + 10000;
            while (Date.now() < end && notifications.length === 0) await new Promise((r) => setTimeout(r, 200));
            if (!notifications.length) throw new Error("no notification received within 10 s");
            return notifications[0];
        });
        const dev = await p((cb) => iotAgentLib.getDevice("spot001", undefined, SERVICE, SUBSERVICE, cb));
        const subId = dev.subscriptions && dev.subscriptions.length ? dev.subscriptions[0].id
            : typeof subLocation === "string" ? subLocation.split("/").pop() : null;
        if (subId) {
            await step("unsubscribe (DELETE /subscriptions/{id})", () =>
                p((cb) => iotAgentLib.unsubscribe(dev, subId, cb)));
        }
    }
    await step("delete device (DELETE /iot/devices/spot001)", () => iota("DELETE", "/iot/devices/spot001"));
    await p((cb) => iotAgentLib.deactivate(cb));
    await cleanup();
    process.exitCode = summary();
})();
