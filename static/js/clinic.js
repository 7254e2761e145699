// The booking form's patient picker, an ARIA combobox: typing asks the server (htmx) for the
// matching patients; ArrowDown/ArrowUp move through them, Enter chooses the highlighted one
// (never submitting the form), Escape closes the list; a click chooses too.
const picker = {
  input: (form) => form.querySelector("#patient-search"),
  options: (input) => {
    const list = document.getElementById(input.getAttribute("aria-controls"));
    return list && !list.hidden ? Array.from(list.querySelectorAll("[role=option]")) : [];
  },
  highlight(input, option) {
    for (const other of picker.options(input)) {
      other.setAttribute("aria-selected", String(other === option));
      other.classList.toggle("active", other === option);
    }
    if (option) {
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  },
  close(input) {
    const list = document.getElementById(input.getAttribute("aria-controls"));
    if (list) {
      list.replaceChildren();
      list.hidden = true;
    }
    const results = document.getElementById("patient-results");
    if (results) results.querySelectorAll("[role=status]").forEach((message) => message.remove());
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  },
  choose(option) {
    const form = option.closest("form");
    const input = picker.input(form);
    const patient = form.querySelector("input[name=patient]");
    input.value = option.dataset.label;
    picker.close(input);
    patient.value = option.dataset.selectPatient;
    patient.dispatchEvent(new Event("change", { bubbles: true }));
  },
};

document.addEventListener("click", (event) => {
  const choice = event.target.closest("[data-select-patient]");
  if (choice) picker.choose(choice);
});

document.addEventListener("keydown", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.id !== "patient-search") return;
  const options = picker.options(input);
  const current = options.findIndex((option) => option.id === input.getAttribute("aria-activedescendant"));
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    if (!options.length) return;
    const step = event.key === "ArrowDown" ? 1 : -1;
    const next = current < 0 ? (step > 0 ? 0 : options.length - 1) : (current + step + options.length) % options.length;
    picker.highlight(input, options[next]);
  } else if (event.key === "Enter") {
    event.preventDefault(); // Enter in the picker never submits the booking form.
    if (current >= 0) picker.choose(options[current]);
    else if (options.length === 1) picker.choose(options[0]);
  } else if (event.key === "Escape" && input.getAttribute("aria-expanded") === "true") {
    // Closes the list only: the drawer around the form (day view) stays open.
    event.preventDefault();
    event.stopPropagation();
    picker.close(input);
  }
}, true); // capture: before the day view's drawer sees Escape

// A drawer (Bootstrap offcanvas) takes the focus once it has slid in; give it back to the
// control the form asks for (the patient picker), so typing is not lost.
document.addEventListener("shown.bs.offcanvas", (event) => {
  const wanted = event.target.querySelector("[autofocus]");
  if (wanted) wanted.focus();
});

// New results arrived: the list is open when it has patients, and nothing is highlighted yet.
document.addEventListener("htmx:afterSwap", () => {
  const input = document.getElementById("patient-search");
  if (!input || input.getAttribute("role") !== "combobox") return;
  input.setAttribute("aria-expanded", String(picker.options(input).length > 0));
  input.removeAttribute("aria-activedescendant");
});

// "/" anywhere but in a text field goes to the navigation's patient search.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  const target = event.target;
  if (target instanceof Element && target.closest("input, textarea, select, [contenteditable]")) return;
  const box = document.getElementById("nav-search");
  if (!box) return;
  event.preventDefault();
  box.focus();
  box.select();
});

// A <select data-submit-on-change> (the clinic picker) submits its form when changed; an
// inline onchange= would be refused by the Content-Security-Policy.
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-submit-on-change]")) event.target.form.requestSubmit();
});
