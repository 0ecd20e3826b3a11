// The operator console's only script: refresh the fleet table and follow a command's
// acknowledgement. Every page works without it (reload to refresh); it adds no content of its own.
(function () {
  'use strict';
  const poll = { headers: { 'X-Console-Poll': '1' }, credentials: 'same-origin', cache: 'no-store' };

  function signedOut(response) {
    if (response.status === 401) { window.location.assign('/console/login?msg=expired'); return true; }
    return false;
  }

  function followFleet() {
    const table = document.getElementById('fleet-table');
    const body = document.getElementById('fleet-rows');
    const updated = document.getElementById('fleet-updated');
    if (!table || !body) return;
    const every = Number(table.dataset.refreshMs) || 5000;
    const refresh = async () => {
      try {
        const response = await fetch(table.dataset.rowsUrl, poll);
        if (signedOut(response)) return;
        if (response.ok) {
          const data = await response.json();
          body.innerHTML = data.rows_html;  // rendered and escaped by the server's templates
          const caption = table.querySelector('caption');
          if (caption) caption.textContent = data.caption;
          if (updated) updated.textContent = data.updated;
        }
      } catch (e) { /* offline for a moment: try again at the next turn */ }
      setTimeout(refresh, every);
    };
    setTimeout(refresh, every);
  }

  function followCommand() {
    const box = document.getElementById('command-status');
    if (!box) return;
    const id = box.dataset.commandId;
    const check = async () => {
      if (box.dataset.status !== 'sent') return;
      try {
        const response = await fetch('/console/commands/' + encodeURIComponent(id), poll);
        if (signedOut(response)) return;
        if (response.ok) {
          const data = await response.json();
          box.dataset.status = data.status;
          box.querySelector('.cmd-status').textContent = data.label;
          if (data.status !== 'sent') {
            box.querySelector('.cmd-detail').textContent = data.detail ? ' — ' + data.detail : '';
            return;
          }
        }
      } catch (e) { /* try again */ }
      setTimeout(check, 1000);
    };
    setTimeout(check, 500);
  }

  document.addEventListener('DOMContentLoaded', () => { followFleet(); followCommand(); });
}());
