"""Helpers for tests of the back end's store."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any


@contextlib.contextmanager
def held_write(store: Any, sql: str | None = None,
               params: Sequence[Any] = ()) -> Iterator[threading.Event]:
    """A write transaction (running ``sql`` first, if given) held open on another thread for
    the block; yields the event that ends it sooner."""
    in_write, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.transaction() as conn:
            if sql is not None:
                conn.execute(sql, params)
            in_write.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert in_write.wait(10)
        yield release
    finally:
        release.set()
        thread.join()
