"""The back end as ``scanpay bench fleet`` runs it: the development app plus the MQTT bridge.

``uvicorn terminal.bench.fleet_app:app_with_bridge --factory`` serves the development back end
of :func:`backend.asgi.dev_app_from_env` (database and terminals from its environment) and,
when ``SCANPAY_FLEET_BENCH_MQTT`` names a broker, runs the fleet's bridge
(:class:`backend.fleet.bridge.Bridge`) in the same process, so a command issued over HTTP wakes
it at once. With several worker processes the bridge runs once, on its own:
``python -m terminal.bench.fleet_app`` (same environment) until SIGTERM; it then finds issued
commands by polling the database. The terminal ids may come from a file
(``SCANPAY_FLEET_BENCH_TERMINALS_FILE``) rather than the environment.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

MQTT_ENV = "SCANPAY_FLEET_BENCH_MQTT"
PASSWORD_ENV = "SCANPAY_FLEET_BENCH_MQTT_PASSWORD"
# A file with the terminal ids, one a line: tens of thousands of ids do not fit in one
# environment variable of a child process (128 KiB each on Linux).
TERMINALS_FILE_ENV = "SCANPAY_FLEET_BENCH_TERMINALS_FILE"


def _terminals_from_file() -> None:
    """Put the ids of ``SCANPAY_FLEET_BENCH_TERMINALS_FILE`` where the dev app reads them."""
    from backend.asgi import TERMINALS_ENV

    path = os.environ.get(TERMINALS_FILE_ENV)
    if path:
        with open(path, encoding="utf-8") as fh:
            ids = [line.strip() for line in fh if line.strip()]
        os.environ[TERMINALS_ENV] = ",".join(ids)  # this process only: no size limit


def _bridge(backend: Any) -> Any:
    from backend.fleet.bridge import Bridge

    return Bridge(backend, os.environ[MQTT_ENV], os.environ.get(PASSWORD_ENV, "")).start()


def app_with_bridge() -> Any:
    """The dev app; with its bridge when ``SCANPAY_FLEET_BENCH_MQTT`` is set."""
    from backend.asgi import dev_app_from_env

    _terminals_from_file()
    app = dev_app_from_env()
    if os.environ.get(MQTT_ENV):
        app.state.fleet_bridge = _bridge(app.state.backend)
    return app


def main() -> int:
    """Run the bridge alone over the database of ``SCANPAY_BACKEND_DB`` until SIGTERM."""
    from backend.asgi import DB_ENV
    from backend.context import Backend
    from backend.settings import BackendSettings

    backend = Backend.open(BackendSettings(database=os.environ[DB_ENV]))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    bridge = _bridge(backend)
    try:
        stop.wait()
    finally:
        bridge.stop()
        backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
