// The patient portal's small enhancements. Every portal page works without this file:
// it only adds what needs JavaScript to work at all.
//
// Copy buttons: <button data-copy="#id-of-a-field" hidden> next to a read-only field. Without
// JavaScript (or without the Clipboard API) the button stays hidden and the field's text can be
// selected by hand; with them, the button shows, copies the field's value and says "Copied" in
// the element named by data-copy-status (an aria-live region, so screen readers hear it too).
(() => {
  "use strict";

  function setUpCopyButton(button) {
    const field = document.querySelector(button.dataset.copy);
    const status = document.querySelector(button.dataset.copyStatus);
    if (!field || !status || !navigator.clipboard || !window.isSecureContext) return;
    let clearing = null;
    button.hidden = false;
    button.addEventListener("click", async () => {
      window.clearTimeout(clearing);
      try {
        await navigator.clipboard.writeText(field.value);
        status.textContent = "Copied";
      } catch {
        field.focus();
        field.select();
        status.textContent = "Could not copy: the link is selected, copy it with your device's menu.";
      }
      clearing = window.setTimeout(() => { status.textContent = ""; }, 8000);
    });
  }

  document.querySelectorAll("button[data-copy]").forEach(setUpCopyButton);
})();
