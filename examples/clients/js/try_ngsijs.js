"use strict";
// Exercise the ngsijs NGSI-LD API (connection.ld.*) against Rigel.
// Usage: BROKER_URL=http://localhost:1026 node try_ngsijs.js
const NGSI = require("ngsijs");
const { BROKER_URL, step, summary, startReceiver } = require("./common");

const PREFIX = "urn:ngsi-ld:ParkingSpot:ngsijs";
const CTX = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";
const NOTIFY_PORT = 18083;

const spot = (n, status = "free") => ({
    id: `${PREFIX}:${n}`,
    type: "ParkingSpot",
    status: { type: "Property", value: status },
    category: { type: "Property", value: ["onstreet"] },
    location: { type: "GeoProperty", value: { type: "Point", coordinates: [-3.8, 43.46 + n / 1000] } },
});

(async () => {
    const receiver = await startReceiver(NOTIFY_PORT);
    const connection = new NGSI.Connection(BROKER_URL);

    await step("getServerDetails (GET /version)", async () => (await connection.getServerDetails()).details);

    for (let i = 1; i <= 4; i++) {
        try { await connection.ld.deleteEntity(`${PREFIX}:${i}`); } catch (e) { /* ignore */ }
    }

    await step("ld.createEntity (application/json, no @context)", async () => (await connection.ld.createEntity(spot(1))).location);
    await step("ld.createEntity (application/ld+json, with @context)",
        async () => (await connection.ld.createEntity({ ...spot(2), "@context": CTX })).location);
    await step("ld.getEntity", async () => (await connection.ld.getEntity(`${PREFIX}:1`)).entity.status);
    await step("ld.getEntity keyValues", async () =>
        (await connection.ld.getEntity({ id: `${PREFIX}:1`, keyValues: true })).entity.status);

    // ngsijs 1.4.1 has no NGSI-LD batch operation method (only NGSIv2 batchUpdate);
    // create the remaining entities one by one.
    await step("batch upsert: not offered by ngsijs LD API -> createEntity x2", async () => {
        for (const n of [3, 4]) await connection.ld.createEntity(spot(n, n === 3 ? "occupied" : "free"));
        return "created 3,4 individually";
    });

    await step("ld.queryEntities type", async () =>
        (await connection.ld.queryEntities({ type: "ParkingSpot" })).results.map((e) => e.id));
    await step("ld.queryEntities type + q", async () =>
        (await connection.ld.queryEntities({ type: "ParkingSpot", q: 'status=="occupied"' })).results.map((e) => e.id));
    await step("ld.queryEntities() no options (library sends idPattern=.*)", async () =>
        (await connection.ld.queryEntities()).results.length);
    await step("ld.queryEntities idPattern only", async () =>
        (await connection.ld.queryEntities({ idPattern: `^${PREFIX}` })).results.length);
    await step("ld.queryEntities count=true", async () => {
        const r = await connection.ld.queryEntities({ type: "ParkingSpot", count: true, limit: 0 });
        if (r.count == null) throw new Error("no NGSILD-Results-Count");
        return r.count;
    });
    await step("ld.queryEntities keyValues + @context Link", async () =>
        (await connection.ld.queryEntities({ type: "ParkingSpot", keyValues: true, "@context": CTX, limit: 2 })).results);
    await step("ld.listTypes", async () => (await connection.ld.listTypes()).results);
    await step("ld.getType ParkingSpot", async () => (await connection.ld.getType("ParkingSpot")).type);

    await step("ld.updateEntityAttributes (PATCH /attrs)", async () =>
        await connection.ld.updateEntityAttributes({ status: { type: "Property", value: "occupied" } }, { id: `${PREFIX}:4` }));
    await step("ld.updateEntityAttribute (PATCH /attrs/status)", async () =>
        await connection.ld.updateEntityAttribute({ type: "Property", value: "free" }, { id: `${PREFIX}:4`, attribute: "status" }));
    await step("ld.appendEntityAttributes (POST /attrs, merge-patch+json)", async () =>
        await connection.ld.appendEntityAttributes({ maximumParkingDuration: { type: "Property", value: 120 } }, { id: `${PREFIX}:4` }));
    await step("ld.deleteEntityAttribute", async () =>
        await connection.ld.deleteEntityAttribute({ id: `${PREFIX}:4`, attribute: "category" }));

    const sub = await step("ld.createSubscription", async () => {
        const r = await connection.ld.createSubscription({
            type: "Subscription",
            description: "ngsijs-test",
            entities: [{ type: "ParkingSpot" }],
            watchedAttributes: ["status"],
            notification: { format: "normalized", endpoint: { uri: receiver.url, accept: "application/json" } },
        });
        return r.subscription.id;
    });
    await step("ld.listSubscriptions (count=true)", async () => {
        const r = await connection.ld.listSubscriptions({ count: true });
        return { count: r.count, ids: r.results.map((s) => s.id) };
    });
    if (sub) {
        await step("ld.getSubscription", async () => (await connection.ld.getSubscription(sub)).subscription.description);
        await step("ld.updateSubscription", async () => {
            await connection.ld.updateSubscription({ id: sub, description: "ngsijs-test-updated" });
            return (await connection.ld.getSubscription(sub)).subscription.description;
        });
        receiver.received.length = 0;
        await step("notification after updateEntityAttributes", async () => {
            await connection.ld.updateEntityAttributes({ status: { type: "Property", value: "occupied" } }, { id: `${PREFIX}:1` });
            const n = await receiver.wait((n) => n.body && Array.isArray(n.body.data) && n.body.data.some((d) => d.id === `${PREFIX}:1`));
            return `subscriptionId=${n.body.subscriptionId}`;
        });
        await step("ld.deleteSubscription", async () => await connection.ld.deleteSubscription(sub));
    }
    for (let i = 1; i <= 4; i++) {
        await step(`ld.deleteEntity ${i}`, async () => await connection.ld.deleteEntity(`${PREFIX}:${i}`));
    }
    receiver.close();
    process.exitCode = summary();
})();
