"""Remote commands on the unit: checked, run once, acknowledged.

A command arrives on ``down/command`` (paho's thread) and is queued for a worker thread, so a
slow latch never holds up the connection. For each command:

1. malformed → ``failed`` ack when it carries a usable command id, else dropped with a log line;
2. its id claimed in the unit's SQLite state: seen before → its first ack is sent again (a
   command is never executed twice), or ``failed`` when the unit stopped before answering;
3. past its deadline → ``expired`` (not executed);
4. run: ``unlock`` (a service action, ``refused`` during a ride), ``lock``, ``find``,
   ``set_interval`` (``{"heartbeat_s": 10..3600}``);
5. the ack (with the lock state after) is stored first, then published.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable

from payments.fleet_messages import (
    Ack,
    Command,
    FleetMessageError,
    decode,
    encode,
    format_time,
    valid_command_id,
)
from terminal.fleet.control import UnitControl
from terminal.fleet.store import FleetStore

log = logging.getLogger(__name__)


class CommandRunner:
    """Runs commands for ``device_id``; :meth:`submit` queues one, :meth:`handle` runs one now."""

    def __init__(self, device_id: str, store: FleetStore, control: UnitControl, *,
                 send_ack: Callable[[Ack], None],
                 set_interval: Callable[[int], None],
                 wall: Callable[[], float] = time.time) -> None:
        self._device_id = device_id
        self._store = store
        self._control = control
        self._send_ack = send_ack
        self._set_interval = set_interval
        self._wall = wall
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.executed = 0

    # -- worker --------------------------------------------------------------------------------

    def submit(self, payload: bytes) -> None:
        """Queue a command payload for the worker thread."""
        self._queue.put(payload)

    def start(self) -> None:
        """Run queued commands on a daemon thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="scanpay-fleet-commands",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Finish the command in hand and stop (idempotent)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout_s)

    def _loop(self) -> None:
        while (payload := self._queue.get()) is not None:
            try:
                self.handle(payload)
            except Exception:
                log.exception("fleet: command failed")

    # -- one command ---------------------------------------------------------------------------

    def handle(self, payload: bytes) -> Ack | None:
        """Check, deduplicate and run one command payload; returns the ack sent (if any)."""
        try:
            msg = decode("command", payload)
        except FleetMessageError as exc:
            return self._malformed(payload, exc)
        assert isinstance(msg, Command)
        if msg.device_id != self._device_id:
            log.warning("fleet: command %s is for %s, not %s; ignored", msg.command_id,
                        msg.device_id, self._device_id)
            return None
        claim = self._store.claim(msg.command_id, msg.command)
        if not claim.new:
            if claim.ack is not None:
                log.info("fleet: command %s seen before; its first ack sent again",
                         msg.command_id)
                again = decode("ack", claim.ack)
                assert isinstance(again, Ack)
                self._send_ack(again)
                return again
            return self._answer(msg.command_id, "failed", "interrupted by a restart before it "
                                "was answered; not run again")
        if msg.expired(self._wall()):
            return self._answer(msg.command_id, "expired",
                                f"received after its deadline {msg.deadline}; not run")
        status, detail = self._run(msg)
        self.executed += 1
        log.info("fleet: command %s %s: %s (%s)", msg.command_id, msg.command, status, detail)
        return self._answer(msg.command_id, status, detail)

    def _run(self, msg: Command) -> tuple[str, str]:
        if msg.command == "unlock":
            return self._control.unlock()
        if msg.command == "lock":
            return self._control.lock()
        if msg.command == "find":
            return self._control.find()
        seconds = int(msg.args["heartbeat_s"])  # checked by decode
        self._set_interval(seconds)
        return "done", f"reporting every {seconds} s"

    def _malformed(self, payload: bytes, exc: FleetMessageError) -> Ack | None:
        command_id = _command_id_of(payload)
        if command_id is None:
            log.warning("fleet: malformed command dropped: %s", exc)
            return None
        claim = self._store.claim(command_id, "malformed")
        if not claim.new and claim.ack is not None:
            again = decode("ack", claim.ack)
            assert isinstance(again, Ack)
            self._send_ack(again)
            return again
        log.warning("fleet: malformed command %s: %s", command_id, exc)
        return self._answer(command_id, "failed", f"malformed command: {exc}"[:256])

    def _answer(self, command_id: str, status: str, detail: str) -> Ack:
        ack = Ack(device_id=self._device_id, sent_at=format_time(self._wall()),
                  command_id=command_id, status=status, detail=detail[:256],
                  lock=self._control.lock_state())
        self._store.save_ack(command_id, encode(ack))  # kept before it is sent
        self._send_ack(ack)
        return ack


def _command_id_of(payload: bytes) -> str | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    command_id = data.get("command_id") if isinstance(data, dict) else None
    return command_id if valid_command_id(command_id) else None
