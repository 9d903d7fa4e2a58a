// The console's settings: tenant and @context kept in the browser (localStorage), the bearer
// token only for the tab's life (sessionStorage).

const KEYS = { tenant: localStorage, context: localStorage, token: sessionStorage };

export function settings() {
  const out = {};
  for (const [key, store] of Object.entries(KEYS)) out[key] = store.getItem(`rigel.${key}`) || "";
  return out;
}

export function save(values) {
  for (const [key, store] of Object.entries(KEYS)) {
    const value = (values[key] || "").trim();
    if (value) store.setItem(`rigel.${key}`, value);
    else store.removeItem(`rigel.${key}`);
  }
}

/** Fills the settings form and saves it on submit; `changed` runs after a save. */
export function bindForm(form, changed) {
  const current = settings();
  for (const key of Object.keys(KEYS)) form.elements[key].value = current[key];
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save(Object.fromEntries(Object.keys(KEYS).map((k) => [k, form.elements[k].value])));
    changed();
  });
}
