// Small DOM helpers. Every text from the broker goes in through textContent, never as markup:
// entity data is untrusted.

/** An element with attributes (properties for `on*` handlers and `dataset`) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A table of `rows` (arrays of cells: text or nodes) under `headings`. */
export function table(headings, rows, attrs = {}) {
  return el(
    "table",
    attrs,
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) =>
      c instanceof HTMLTableCellElement ? c : el("td", {}, c))))),
  );
}

/** A value shown as short text: strings as they are, the rest as JSON, cut at `max`. */
export function short(value, max = 120) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) return "";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The link to an entity's page in the console. */
export function entityLink(id, text = id) {
  return el("a", { href: `#/entity?${new URLSearchParams({ id })}`, class: "entity-link" }, text);
}

/** The date-time as the browser's locale writes it, or "" when there is none. */
export function when(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** Replaces the view's content. */
export function show(view, ...children) {
  view.replaceChildren(...children.flat());
}
