// The kiosk page: shows the screen the server pushes and sends taps back. No business logic:
// every rule lives in the terminal's state machine; this file only swaps HTML and posts taps.
(function () {
  "use strict";
  var screen = document.getElementById("screen");
  var live = document.getElementById("live");
  var busy = false;

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
    screen.replaceChildren(next);
    if (stateChanged) {
      var heading = next.querySelector("h1, h2");
      if (heading && !heading.classList.contains("visually-hidden")) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
      }
    }
    var auto = next.querySelector("[autofocus]");
    if (auto) auto.focus();
  }

  function post(action, args) {
    busy = true;
    return fetch("/action", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ action: action, args: args }),
      cache: "no-store"
    }).then(function (response) {
      if (!response.ok && response.status !== 409) {
        return response.json().then(function (body) { live.textContent = body.error || ""; });
      }
    }).catch(function () { /* the next pushed screen tells the truth */ })
      .finally(function () { busy = false; });
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

  var source = new EventSource("/events");
  source.addEventListener("screen", function (event) {
    var message = JSON.parse(event.data);
    document.documentElement.lang = message.lang;
    swap(message.html);
  });
})();
