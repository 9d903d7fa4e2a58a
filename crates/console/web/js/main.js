// The console's router: one view per hash route (#/entities, #/entity, #/map,
// #/subscriptions, #/rules). A view's function fills <main> and resolves when its data is
// shown; the body's data-ready then names it (what the browser tests wait for).

import { query } from "./api.js";
import { bindForm } from "./settings.js";
import { entitiesView } from "./entities.js";
import { entityView } from "./entity.js";
import { mapView } from "./map.js";
import { subscriptionsView } from "./subscriptions.js";
import { rulesView } from "./rules.js";

const VIEWS = {
  entities: entitiesView,
  entity: entityView,
  map: mapView,
  subscriptions: subscriptionsView,
  rules: rulesView,
};

const main = document.getElementById("view");
const problem = document.getElementById("problem");
let generation = 0;

/** Shows an error above the view (null hides it). */
function report(error) {
  problem.hidden = !error;
  problem.textContent = error ? String(error.message || error) : "";
}

/** Goes to a route (`name` and its parameters); the hash change renders it. */
export function go(name, params = {}) {
  const hash = `#/${name}${query(params)}`;
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function render() {
  const mine = ++generation;
  const [path, search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const name = VIEWS[path] ? path : "entities";
  const params = Object.fromEntries(new URLSearchParams(search));
  for (const link of document.querySelectorAll("header nav a")) {
    link.classList.toggle("current", link.dataset.view === name);
  }
  delete document.body.dataset.ready;
  report(null);
  try {
    await VIEWS[name](main, params, { go, current: () => mine === generation });
  } catch (error) {
    if (mine === generation) report(error);
  }
  if (mine === generation) {
    document.body.dataset.ready = name;
    window.rigelConsole = { ready: name, at: performance.now() };
  }
}

bindForm(document.getElementById("settings"), render);
window.addEventListener("hashchange", render);
// The packages load with `defer`; the module runs after them.
render();
