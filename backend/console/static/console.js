// The operator console's only script: refresh the fleet table (rows, caption, time and the
// dead-letter notice) and follow a command's acknowledgement. Every page works without it (reload to refresh); it adds no content of its own.
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
    const letters = document.getElementById('dead-letters');
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
          if (letters) {
            letters.dataset.count = String(data.dead_letters || 0);
            letters.textContent = data.dead_letters_text || '';
            letters.hidden = !data.dead_letters;
          }
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
            const detail = box.querySelector('.cmd-detail');
            detail.textContent = data.detail_text ? ' — ' + data.detail_text : '';
            if (data.detail_lang) detail.setAttribute('lang', data.detail_lang);
            else detail.removeAttribute('lang');
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
