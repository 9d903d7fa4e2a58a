"use strict";
// Shared helpers: result table and a tiny notification receiver.
const http = require("http");

const BROKER_URL = process.env.BROKER_URL || "http://localhost:1026";
const results = [];

async function step(name, fn) {
    try {
        const detail = await fn();
        const d = detail === undefined ? "" : (typeof detail === "string" ? detail : JSON.stringify(detail));
        results.push([name, "OK", d.slice(0, 200)]);
        console.log(`[OK]   ${name}: ${d.slice(0, 200)}`);
        return detail === undefined ? true : detail;
    } catch (e) {
        let msg = `${e && e.name}: ${e && e.message}`;
        if (e && e.details) msg += ` details=${JSON.stringify(e.details)}`;
        if (e && e.response && e.response.status) msg += ` status=${e.response.status}`;
        results.push([name, "FAIL", msg.slice(0, 600)]);
        console.log(`[FAIL] ${name}: ${msg.slice(0, 600)}`);
        if (process.env.TRACE) console.log(e);
        return null;
    }
}

function summary() {
    console.log("\n==== summary ====");
    for (const [n, s, d] of results) console.log(`${s.padEnd(4)}  ${n.padEnd(45)} ${d.slice(0, 160)}`);
    const fails = results.filter((r) => r[1] === "FAIL").length;
    console.log(`${results.length - fails} passed, ${fails} failed`);
    return fails ? 1 : 0;
}

function startReceiver(port) {
    const received = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            let parsed = body;
            try { parsed = JSON.parse(body); } catch (e) { /* keep raw */ }
            received.push({ path: req.url, headers: req.headers, body: parsed });
            res.writeHead(200, { "Content-Length": 0 });
            res.end();
        });
    });
    return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve({
        url: `http://127.0.0.1:${port}/notify`,
        received,
        async wait(pred, timeoutMs = 10000) {
            const end = Date.now() + timeoutMs;
            while (Date.now() < end) {
                const n = received.find(pred);
                if (n) return n;
                await new Promise((r) => setTimeout(r, 200));
            }
            throw new Error(`no matching notification within ${timeoutMs} ms (got ${received.length})`);
        },
        close: () => server.close(),
    })));
}

module.exports = { BROKER_URL, step, summary, startReceiver };
