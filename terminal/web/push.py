"""Server-sent events: push a page's new state to every open browser tab.

Flows run on ordinary threads; pages listen on the web server's event loop. A
:class:`Broadcaster` takes ``publish(name, data)`` from any thread and hands the latest message
to every subscriber's asyncio queue. Slow tabs only ever see the newest state (a screen is a
whole state, not a diff), so nothing queues up behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Message:
    """One server-sent event."""

    name: str
    data: str
    version: int

    def encode(self) -> bytes:
        """The event in the text/event-stream wire format."""
        lines = "".join(f"data: {line}\n" for line in self.data.split("\n"))
        return f"id: {self.version}\nevent: {self.name}\n{lines}\n".encode()


class Broadcaster:
    """Latest-message fan-out from worker threads to the web server's event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._latest: dict[str, Message] = {}
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Message]]] = set()
        self._closed = False

    @property
    def version(self) -> int:
        """How many messages were published."""
        return self._version

    def publish(self, name: str, data: str | dict[str, Any]) -> int:
        """Send ``data`` (text, or JSON-encoded) as event ``name`` to every subscriber."""
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        with self._lock:
            self._version += 1
            message = Message(name, text, self._version)
            self._latest[name] = message
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_put_latest, queue, message)
            except RuntimeError:  # that loop is closed: the tab is gone
                self._drop(loop, queue)
        return message.version

    def latest(self, name: str) -> Message | None:
        """The last message published as ``name``."""
        with self._lock:
            return self._latest.get(name)

    async def stream(self, *, heartbeat_s: float = 15.0) -> AsyncIterator[bytes]:
        """Encoded events for one subscriber: the latest of each kind first, then every new one."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=64)
        with self._lock:
            if self._closed:
                return
            self._subscribers.add((loop, queue))
            first = sorted(self._latest.values(), key=lambda m: m.version)
        try:
            yield b"retry: 500\n\n"
            for message in first:
                yield message.encode()
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=heartbeat_s)
                except TimeoutError:
                    if self._closed:
                        return
                    yield b": keep-alive\n\n"
                    continue
                if message.name == _CLOSE:
                    return
                yield message.encode()
        finally:
            self._drop(loop, queue)

    def close(self) -> None:
        """End every open stream (the server is stopping); safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_put_latest, queue, Message(_CLOSE, "", -1))

    def _drop(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Message]) -> None:
        with self._lock:
            self._subscribers.discard((loop, queue))


_CLOSE = "__close__"


def _put_latest(queue: asyncio.Queue[Message], message: Message) -> None:
    if queue.full():  # a stalled tab: drop the oldest, the newest state is what counts
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
    queue.put_nowait(message)


def sse_response(broadcaster: Broadcaster) -> Any:
    """A Starlette streaming response of ``broadcaster``'s events."""
    from starlette.responses import StreamingResponse

    return StreamingResponse(broadcaster.stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
