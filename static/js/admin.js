// Django admin, repaired where axe-core finds it wanting (tests/e2e/test_accessibility.py):
// widgets that Django's own scripts build without an accessible name get one. They are built
// after the page loads (the autocomplete's Select2 box, the two-list permission picker) and
// again when an inline row is added, so a MutationObserver repairs whatever appears.
(function () {
  "use strict";

  function labelText(id) {
    const label = id && document.querySelector('label[for="' + CSS.escape(id) + '"]');
    return label ? label.textContent.replace(/:\s*$/, "").trim() : "";
  }

  function repair(root) {
    // Select2 (autocomplete_fields): the combobox is named after the <select> it replaces.
    root.querySelectorAll(".select2-selection[role=combobox]:not([aria-label])").forEach(function (box) {
      const container = box.closest(".select2");
      const select = container && container.previousElementSibling;
      if (select && select.tagName === "SELECT") {
        const name = labelText(select.id) || select.getAttribute("aria-label");
        if (name) {
          box.setAttribute("aria-label", name);
          box.querySelectorAll(".select2-selection__rendered[role=textbox]").forEach(function (shown) {
            shown.setAttribute("aria-label", name);
          });
        }
      }
    });
    // SelectFilter (filter_horizontal): its help icons carry a title and aria-label on a bare
    // <span>, where ARIA allows no name; as an image the name is permitted.
    root.querySelectorAll(".help-tooltip[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
    // The change list's search box: its label is only a magnifying-glass picture.
    root.querySelectorAll("#searchbar:not([aria-label])").forEach(function (box) {
      box.setAttribute("aria-label", "Search");
    });
  }

  repair(document);
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      change.addedNodes.forEach(function (node) {
        if (node.nodeType === Node.ELEMENT_NODE) repair(node.parentElement || node);
      });
    });
  }).observe(document.body, { childList: true, subtree: true });
})();
