// Choosing a patient from the as-you-type search fills the booking form's hidden field.
document.addEventListener("click", (event) => {
  const choice = event.target.closest("[data-select-patient]");
  if (!choice) return;
  const form = choice.closest("form");
  const patient = form.querySelector("input[name=patient]");
  patient.value = choice.dataset.selectPatient;
  patient.dispatchEvent(new Event("change", { bubbles: true }));
  form.querySelector("#patient-search").value = choice.dataset.label;
  choice.closest("#patient-results").replaceChildren();
});

// A <select data-submit-on-change> (the clinic picker) submits its form when changed; an
// inline onchange= would be refused by the Content-Security-Policy.
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-submit-on-change]")) event.target.form.requestSubmit();
});
