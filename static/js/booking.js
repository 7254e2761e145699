// The booking form. Once a patient is chosen in the picker (its hidden field fires "change"),
// the form is drawn again for that patient: the kind their state suggests (consultation, acute,
// maintenance) and the next free times. The clicked chair and time are kept.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!window.htmx || !input.matches("#booking input[name=patient]") || !input.value) return;
  const form = input.form;
  const values = { patient: input.value };
  for (const name of ["clinic", "chair", "starts_at"]) {
    if (form.elements[name] && form.elements[name].value) values[name] = form.elements[name].value;
  }
  // Busy until the form for this patient replaces it: sent before then, it would book the kind
  // chosen for nobody (a consultation).
  const booking = document.getElementById("booking");
  booking.setAttribute("aria-busy", "true");
  htmx.ajax("GET", form.dataset.refreshUrl, { target: "#booking", swap: "outerHTML", values }).then(() => {
    const next = document.querySelector("#booking #id_kind");
    if (next) next.focus();
  }, () => booking.removeAttribute("aria-busy"));
});
