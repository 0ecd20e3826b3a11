#!/usr/bin/env bash
# Sets up ScanPay on a fresh Debian / Raspberry Pi OS machine; safe to run again.
#   scripts/setup.sh          runtime environment in .venv/
#   scripts/setup.sh --dev    plus the test tools (pytest, ruff, hypothesis, Playwright, axe-core)
# System packages come from apt (sudo when not root); Python packages are pinned in
# requirements/. dlib comes from the prebuilt dlib-bin wheel and is never compiled.
# The browser tests drive Debian's chromium package; Playwright never downloads a browser.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --dev)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- system packages -------------------------------------------------------
need_apt=()
# pyzbar finds zbar the same way (ctypes.util.find_library).
python3 -c 'import ctypes.util, sys; sys.exit(not ctypes.util.find_library("zbar"))' \
  || need_apt+=(libzbar0)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
on_pi=0
grep -qs "Raspberry Pi" /proc/device-tree/model && on_pi=1
if [ "$on_pi" -eq 1 ]; then
  # The camera module's stack (picamera2 + libcamera) and gpiozero's pin library (lgpio, the
  # one that works on every Pi including the Pi 5) come from Raspberry Pi OS's apt.
  installed python3-picamera2 || need_apt+=(python3-picamera2)
  installed python3-lgpio || need_apt+=(python3-lgpio)
fi
if [ "$dev" -eq 1 ]; then
  # Browser tests: Debian's Chromium (driven by Playwright through executable_path) and a
  # font with Chinese glyphs, so the zh screens render text rather than empty boxes.
  chromium_bin="$(command -v chromium || echo /usr/bin/chromium)"
  [ -f "$chromium_bin" ] && [ -x "$chromium_bin" ] || need_apt+=(chromium)
  installed fonts-noto-cjk || need_apt+=(fonts-noto-cjk)
  # The back-end tests run on PostgreSQL as well as SQLite, and the fleet tests use an MQTT
  # broker: Debian's servers, started by the tests in temporary directories on loopback.
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || need_apt+=(mosquitto)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "installing system packages: ${need_apt[*]}"
  if [[ " ${need_apt[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    # The tests start their own servers in temporary directories: Debian need not create and
    # start a system-wide cluster on port 5432 when it installs the package.
    as_root mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
    "${need_apt[@]}" >/dev/null
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"[setup] ScanPay needs Python >= 3.11, found {sys.version.split()[0]}")
PY

# --- Python environment ----------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  venv_opts=()
  # On a Raspberry Pi the camera stack (picamera2, libcamera bindings) comes from apt and is
  # only importable from the system site-packages; our pinned packages still take precedence.
  if [ "$on_pi" -eq 1 ]; then
    venv_opts+=(--system-site-packages)
    log "Raspberry Pi detected: the venv sees apt's picamera2 (sudo apt install python3-picamera2)"
  fi
  log "creating .venv"
  python3 -m venv "${venv_opts[@]}" .venv
fi
if [ "$on_pi" -eq 1 ] && grep -qs "include-system-site-packages = false" .venv/pyvenv.cfg; then
  log "warning: .venv cannot see apt's picamera2 and lgpio; remove .venv and run setup.sh again"
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

files=(requirements/runtime.txt requirements/nodeps.txt requirements/constraints.txt pyproject.toml)
[ "$dev" -eq 1 ] && files+=(requirements/dev.txt)
stamp_want="$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)"
stamp_file=".venv/.scanpay-setup-$([ "$dev" -eq 1 ] && echo dev || echo run)"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp_want" ]; then
  log "environment up to date"
  exit 0
fi

log "installing Python packages (pinned)"
"${pip[@]}" install -U "pip" "setuptools<81" wheel
"${pip[@]}" install -c requirements/constraints.txt -r requirements/runtime.txt
"${pip[@]}" install --no-deps -r requirements/nodeps.txt
if [ "$dev" -eq 1 ]; then
  "${pip[@]}" install -c requirements/constraints.txt -r requirements/dev.txt
fi
"${pip[@]}" install --no-deps --no-build-isolation -e .
echo "$stamp_want" > "$stamp_file"
log "done"
