"""uvicorn's httptools protocol with each response's writes sent together.

uvicorn writes a response's head when the app sends ``http.response.start`` and its body when
it sends ``http.response.body``: two ``send`` system calls per answer, and on a busy
terminal-facing socket each one goes through the whole TCP stack. :class:`CoalescingProtocol`
hands uvicorn a transport whose writes made during one event-loop step leave in one call at
the end of that step (``call_soon``): the head and the body of an ordinary answer share one
packet, and nothing waits longer than the current step (``scanpay bench load``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport proxy buffering the writes of one event-loop step into one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data``; the first write of a step schedules the flush."""
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        """Queue every chunk."""
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what is queued, in one write (nothing once the connection is closing)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        """Bytes not yet sent: queued here and in the real transport."""
        return sum(map(len, self._pending)) + self._transport.get_write_buffer_size()

    def close(self) -> None:
        """Send what is queued, then close."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` on a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the connection's transport, then set up as uvicorn does."""
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
