// The type and q filter the entity list and the map share, kept in the route's parameters.

import { el } from "./dom.js";
import { entityTypes } from "./api.js";

/** The filter form; on submit it calls `apply` with { type, q, ...extra fields }. */
export async function filterForm(params, apply, extra = []) {
  const types = await entityTypes();
  const type = params.type || types[0] || "";
  const select = el("select", { name: "type" },
    types.length ? types.map((t) => el("option", { value: t, selected: t === type }, t))
      : el("option", { value: "" }, "no entities yet"));
  const form = el("form", { class: "filter" },
    el("label", {}, "Type", select),
    el("label", {}, "q (NGSI-LD query)",
      el("input", { name: "q", value: params.q || "", placeholder: 'status=="free";occupancy<0.5' })),
    extra,
    el("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply(Object.fromEntries(new FormData(form)));
  });
  return { form, type };
}
