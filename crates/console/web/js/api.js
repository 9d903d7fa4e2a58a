// Calls to the broker's public HTTP API, with the console's settings: the tenant
// (NGSILD-Tenant), a user @context (Link header) and a bearer token when authentication is on.

import { settings } from "./settings.js";

export const API = "/ngsi-ld/v1";
const CORE_LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"';

/** An answer other than 2xx, with the ProblemDetails the broker gave. */
export class ApiFailure extends Error {
  constructor(status, problem, path) {
    const title = problem?.title || problem?.type || `HTTP ${status}`;
    super(`${title}${problem?.detail ? `: ${problem.detail}` : ""} (${status}, ${path})`);
    this.status = status;
  }
}

/** GET at `path` (the console only reads); resolves to { body, headers }. */
export async function call(path, { accept = "application/json" } = {}) {
  const { tenant, context, token } = settings();
  const headers = { Accept: accept };
  if (tenant) headers["NGSILD-Tenant"] = tenant;
  if (context) headers.Link = `<${context}>; ${CORE_LINK_REL}`;
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers });
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { detail: text.slice(0, 300) };
    }
  }
  if (!response.ok) throw new ApiFailure(response.status, parsed, path);
  return { body: parsed, headers: response.headers };
}

/** A query string from the entries whose value is not empty. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The entity types the tenant holds, as the broker names them with the current @context. */
export async function entityTypes() {
  const { body } = await call(`${API}/types`);
  return (body?.typeList || []).slice().sort();
}
