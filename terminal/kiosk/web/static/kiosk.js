// The kiosk page: shows the screen the server pushes and sends taps back. No business logic:
// every rule lives in the terminal's state machine; this file only swaps HTML and posts taps.
(function () {
  "use strict";
  var screen = document.getElementById("screen");
  var live = document.getElementById("live");
  var TAP_TIMEOUT_MS = 8000;
  var queue = Promise.resolve();

  function swap(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var next = holder.firstElementChild;
    var current = screen.firstElementChild;
    var stateChanged = !current || current.dataset.state !== next.dataset.state;
    // Keep the running camera stream instead of reopening it on every prompt.
    var oldPreview = document.getElementById("preview");
    var newPreview = next.querySelector("#preview");
    if (oldPreview && newPreview) newPreview.replaceWith(oldPreview);
    var sameView = !stateChanged || (MENU_STATES.indexOf(current.dataset.state) >= 0 &&
      MENU_STATES.indexOf(next.dataset.state) >= 0);
    var scrolled = sameView ? scrollPositions(current) : [];
    screen.replaceChildren(next);
    scrolled.forEach(function (kept) {
      var again = next.querySelector(kept.selector);
      if (again && (again.dataset.scrollKey || "") === kept.key) {
        again.scrollTop = kept.top;
        again.scrollLeft = kept.left;
      }
    });
    if (stateChanged) {
      var heading = next.querySelector("h1, h2");
      if (heading && !heading.classList.contains("visually-hidden")) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
      }
    }
    var auto = next.querySelector("[autofocus]");
    if (auto) auto.focus();
    announce(next);
    countDown(next);
  }

  // A choice made further down a list must not throw the list back to its top: scrolled
  // parts of the same screen keep their place when it is swapped (unless they now show
  // something else: another category, another item — their data-scroll-key).
  var MENU_STATES = ["menu", "item"];  // the item dialog opens over the menu
  var SCROLLERS = [".dialog-body", ".items", ".categories", ".cart-lines", ".content",
    ".dialog"];
  function scrollPositions(root) {
    var kept = [];
    SCROLLERS.forEach(function (selector) {
      var el = root.querySelector(selector);
      if (el && (el.scrollTop || el.scrollLeft)) {
        kept.push({ selector: selector, key: el.dataset.scrollKey || "", top: el.scrollTop,
          left: el.scrollLeft });
      }
    });
    return kept;
  }

  // The merchant QR's "works for N more seconds" counts down on screen between pushes (the
  // server decides when the code has expired; this only keeps the number honest).
  var ticking = null;
  function countDown(root) {
    if (ticking !== null) clearInterval(ticking);
    ticking = null;
    var holder = root.querySelector("[data-seconds-left]");
    var number = holder && holder.querySelector(".countdown-n");
    if (!number) return;
    var left = parseInt(holder.dataset.secondsLeft, 10);
    var shownAt = performance.now();
    ticking = setInterval(function () {
      var now = Math.max(0, left - Math.floor((performance.now() - shownAt) / 1000));
      number.textContent = String(now);
      if (now === 0) { clearInterval(ticking); ticking = null; }
    }, 1000);
  }

  // Parts of a screen marked data-announce (prompts, digits typed) are read out through the
  // page's one live region: a freshly swapped-in element is not announced by itself.
  function announce(root) {
    var parts = [];
    root.querySelectorAll("[data-announce]").forEach(function (el) {
      var spoken = el.cloneNode(true);  // what is hidden from assistive technology stays so
      spoken.querySelectorAll('[aria-hidden="true"]').forEach(function (h) { h.remove(); });
      parts.push(spoken.textContent.replace(/\s+/g, " ").trim());
    });
    var text = parts.join(" ");
    if (text && text !== live.textContent) live.textContent = text;
  }

  // Taps are sent one after another, in the order they were made (two quick keypad taps must
  // not overtake each other on two connections).
  function post(action, args) {
    queue = queue.then(function () { return send(action, args); });
  }

  function send(action, args) {
    // A tap the kiosk never answers must not hold up the taps after it.
    var stop = new AbortController();
    var timer = setTimeout(function () { stop.abort(); }, TAP_TIMEOUT_MS);
    return fetch("/action", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ action: action, args: args }),
      cache: "no-store",
      signal: stop.signal
    }).then(function (response) {
      if (!response.ok && response.status !== 409) {
        return response.json().then(function (body) { live.textContent = body.error || ""; });
      }
    }).catch(function () { /* the next pushed screen tells the truth */ })
      .then(function () { clearTimeout(timer); });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-action]");
    if (!target || !screen.contains(target)) return;
    event.preventDefault();
    var args = {};
    Object.keys(target.dataset).forEach(function (key) {
      if (key !== "action") args[key] = target.dataset[key];
    });
    target.classList.add("pressed");
    post(target.dataset.action, args);
  });

  countDown(screen);
  announce(screen);

  var source = new EventSource("/events");
  source.addEventListener("screen", function (event) {
    var message = JSON.parse(event.data);
    swap(message.html);
    var root = screen.firstElementChild;
    if (root && root.dataset.lang) document.documentElement.lang = root.dataset.lang;
  });
})();
