// The emulator's pages: the server pushes new HTML for each live region (server-sent events);
// the panel's forms are sent in the background so the page never reloads.
(() => {
  "use strict";
  const regions = document.querySelectorAll("[data-region]");
  if (regions.length) {
    const stream = new EventSource(document.body.dataset.events);
    for (const region of regions) {
      stream.addEventListener(region.dataset.region, (event) => {
        region.innerHTML = event.data;
      });
    }
  }
  const alertBox = document.getElementById("alert");
  for (const form of document.querySelectorAll("form[data-api]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = new URLSearchParams(new FormData(form, event.submitter));
      try {
        const answer = await fetch(form.getAttribute("action"), {
          // X-Panel-Page: a refused choice is answered 200 {ok: false}, not logged as a failure.
          method: "POST", body, headers: { Accept: "application/json", "X-Panel-Page": "1" },
        });
        const data = await answer.json();
        alertBox.textContent = data.error || "";
      } catch (error) {
        alertBox.textContent = `The emulator did not answer (${error.message}).`;
      }
    });
  }
})();
