// Automatic logoff in the browser. The server ends the login on its own
// (tmsclinic/logoff.py); this script warns a minute before, offers "Stay signed in", and at
// the end takes the page's patient data off the screen without waiting for a click.
// The page's <meta name="tms-logoff"> says how long the login has left and where to ask.
(() => {
  "use strict";
  const config = document.querySelector('meta[name="tms-logoff"]');
  if (!config) return;
  const { statusUrl, keepaliveUrl, loginUrl, csrfToken } = config.dataset;
  const warnSeconds = Number(config.dataset.warnSeconds);
  const RECHECK_MS = 10000; // while warning, how often to ask whether another tab was active
  let deadline = Date.now() + Number(config.dataset.secondsLeft) * 1000;
  let nextCheck = 0;
  let asking = false;
  let signedOut = false;
  let dialog = null;
  let countdown = null;
  let stayButton = null;

  function loginHref() {
    const url = new URL(loginUrl, window.location.href);
    url.searchParams.set("next", window.location.pathname + window.location.search);
    return url.pathname + url.search;
  }

  // The server's answer ({signed_in, seconds_left}), or null when it could not be had.
  async function ask(url, { headers = {}, ...options } = {}) {
    try {
      const response = await fetch(url, {
        ...options,
        credentials: "same-origin",
        headers: { Accept: "application/json", ...headers },
        signal: AbortSignal.timeout(5000),
      });
      if (!response.ok) return null;
      return await response.json();
    } catch {
      return null;
    }
  }

  function element(tag, properties = {}, ...children) {
    const node = Object.assign(document.createElement(tag), properties);
    node.append(...children);
    return node;
  }

  // Removes everything the page showed (names, clinical data, even the title) and then
  // goes to the login page, replacing this page in the history.
  function signOutHere() {
    if (signedOut) return;
    signedOut = true;
    window.clearInterval(timer);
    const href = loginHref();
    const link = element("a", { href, className: "btn btn-primary" }, "Sign in again");
    const notice = element(
      "main",
      { id: "main", className: "logoff-notice" },
      element("h1", { className: "h3" }, "You were signed out"),
      element("p", {}, "You were signed out because nothing happened for a while, to protect patients' information."),
      link,
    );
    notice.setAttribute("data-testid", "signed-out");
    document.body.replaceChildren(notice);
    document.title = "Signed out";
    link.focus();
    window.location.replace(href);
  }

  function buildDialog() {
    countdown = element("span", {}, "");
    stayButton = element("button", { type: "button", className: "btn btn-primary" }, "Stay signed in");
    dialog = element(
      "dialog",
      { className: "logoff-warning" },
      element("h2", { id: "logoff-warning-title", className: "h5" }, "Are you still there?"),
      element(
        "p",
        { id: "logoff-warning-text" },
        "To protect patients' information you will be signed out in ",
        countdown,
        " unless you choose to stay signed in.",
      ),
      stayButton,
    );
    dialog.setAttribute("role", "alertdialog");
    dialog.setAttribute("aria-labelledby", "logoff-warning-title");
    dialog.setAttribute("aria-describedby", "logoff-warning-text");
    dialog.setAttribute("data-testid", "logoff-warning");
    stayButton.addEventListener("click", staySignedIn);
    // Escape means someone is there: the same as the button.
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      staySignedIn();
    });
    document.body.append(dialog);
  }

  function updateCountdown() {
    if (!countdown) return;
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    countdown.textContent = left === 1 ? "1 second" : `${left} seconds`;
  }

  function showWarning() {
    if (!dialog) buildDialog();
    updateCountdown();
    if (!dialog.open) {
      dialog.showModal();
      stayButton.focus();
    }
  }

  function hideWarning() {
    if (dialog && dialog.open) dialog.close();
  }

  function adopt(status) {
    if (!status.signed_in || status.seconds_left <= 0) {
      signOutHere();
      return;
    }
    deadline = Date.now() + status.seconds_left * 1000;
    if (status.seconds_left > warnSeconds) hideWarning();
    else showWarning();
  }

  async function staySignedIn() {
    if (signedOut || asking) return;
    asking = true;
    const status = await ask(keepaliveUrl, { method: "POST", headers: { "X-CSRFToken": csrfToken } });
    asking = false;
    if (status) adopt(status);
  }

  // Every second: nothing to do until the warning is due; from then on, ask the server
  // (another tab may have kept the login alive) before warning, and again before acting.
  async function tick() {
    if (signedOut || asking) return;
    const now = Date.now();
    const left = deadline - now;
    if (left > warnSeconds * 1000) return;
    if (left > 0 && now < nextCheck) {
      updateCountdown();
      return;
    }
    asking = true;
    const status = await ask(statusUrl);
    asking = false;
    nextCheck = Date.now() + RECHECK_MS;
    if (status) adopt(status);
    else if (Date.now() >= deadline) signOutHere(); // no answer: the data goes at the deadline anyway
    else showWarning();
  }

  const timer = window.setInterval(tick, 1000);
  document.addEventListener("visibilitychange", tick);
  window.addEventListener("pageshow", tick);
})();
