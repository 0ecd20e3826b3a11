"""JSON answers rendered by orjson: the same compact UTF-8 JSON as Starlette's
:class:`~starlette.responses.JSONResponse`, at a fraction of the CPU (a score read's answer
is a few kilobytes, and encoding it was one of the larger costs of serving one)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """A :class:`JSONResponse` whose body orjson writes (keys that are not strings allowed,
    as the standard encoder allows them)."""

    def render(self, content: Any) -> bytes:
        """The body: ``content`` as compact JSON."""
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
