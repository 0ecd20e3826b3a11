#!/usr/bin/env bash
# Opens the kiosk's screen in Chromium in kiosk mode (full screen, no browser controls) once the
# terminal answers. Run it in the kiosk's graphical session (see configs/systemd/).
#   scripts/kiosk-browser.sh [URL]       default URL: http://127.0.0.1:8080/ ([kiosk] port)
# The browser keeps nothing between sessions: a fresh temporary profile, no disk cache, no
# password or translate prompts; the page itself stores nothing (no cookies, no local storage).
set -euo pipefail

url="${1:-${SCANPAY_KIOSK_URL:-http://127.0.0.1:8080/}}"
case "$url" in
  http://127.0.0.1:*|http://localhost:*|http://\[::1\]:*) ;;
  *) echo "kiosk-browser: refusing $url: the kiosk screen is served on loopback only" >&2; exit 2 ;;
esac
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  echo "kiosk-browser: Chromium is not installed (sudo apt install chromium)" >&2
  exit 1
fi

# Wait for the terminal (it may still be starting after a power cut), up to two minutes.
for _ in $(seq 1 240); do
  if python3 - "$url" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/healthz", timeout=1).read()
PY
  sleep 0.5
done

profile="$(mktemp -d -t scanpay-kiosk-browser.XXXXXX)"
trap 'rm -rf "$profile"' EXIT
flags=(
  --kiosk "--app=$url"
  "--user-data-dir=$profile" --incognito --disk-cache-size=1 --media-cache-size=1
  --no-first-run --noerrdialogs --disable-infobars --disable-session-crashed-bubble
  --disable-translate --disable-features=Translate,TouchpadOverscrollHistoryNavigation
  --overscroll-history-navigation=0 --disable-pinch --check-for-update-interval=31536000
  --password-store=basic
)
if [ -n "${WAYLAND_DISPLAY:-}" ]; then
  flags+=(--ozone-platform=wayland)
fi
exec "$browser" "${flags[@]}"
