"""Pix (Brazil): which templates carry the account, the code's type, and the Pix checks.

A Pix code names its receiver in a merchant account template (26-51) with the GUI
``br.gov.bcb.pix``: a key (01) for a static code, or a location (25) whose payload the
payer's bank fetches for a dynamic one. Pix Automático (recurring payments) repeats the GUI
in an unreserved template (80-99) with the recurrence's own location; such a code may carry
nothing but the GUI in its account template.
"""

from __future__ import annotations

import re

PIX_GUI = "br.gov.bcb.pix"
_TXID = re.compile(r"[A-Za-z0-9]{1,25}|\*\*\*")
# The Pix API's locations of charges with a due date ("cobv") carry it in their path.
_DUE_DATE_PATH = re.compile(r"/cobv/", re.IGNORECASE)


def pix_roots(tags: dict[str, str]) -> list[str]:
    """Root IDs whose template has the Pix GUI (any case), in payload order of tag paths."""
    return [path[:-3] for path, value in tags.items()
            if path.endswith(".00") and path.count(".") == 1 and value.lower() == PIX_GUI]


def account_roots(tags: dict[str, str]) -> list[str]:
    """Pix merchant account templates (26-51)."""
    return [r for r in pix_roots(tags) if 26 <= int(r) <= 51]


def recurrence_roots(tags: dict[str, str]) -> list[str]:
    """Pix Automático templates (80-99)."""
    return [r for r in pix_roots(tags) if int(r) >= 80]


def pix_type(tags: dict[str, str]) -> str | None:
    """``static``, ``dynamic-immediate``, ``dynamic-due-date`` or ``recurring`` (80-99 only).

    Dynamic codes carry a location (25); a location whose path holds ``/cobv/`` is a charge
    with a due date. A key (01) without a location is a static code. A code whose only key or
    location is in a Pix Automático template is ``recurring``. ``None`` when there is neither.
    """
    for root in account_roots(tags):
        url = tags.get(f"{root}.25")
        if url is not None:
            return "dynamic-due-date" if _DUE_DATE_PATH.search(url) else "dynamic-immediate"
    if any(f"{root}.01" in tags for root in account_roots(tags)):
        return "static"
    if any(f"{r}.25" in tags or f"{r}.01" in tags for r in recurrence_roots(tags)):
        return "recurring"
    return None


def pix_fields(tags: dict[str, str]) -> dict[str, str]:
    """Pix's own friendly fields: ``pix_type`` and ``pix_recurrence`` (the 80-99 location)."""
    out: dict[str, str] = {}
    kind = pix_type(tags)
    if kind is not None:
        out["pix_type"] = kind
    for root in recurrence_roots(tags):
        if f"{root}.25" in tags:
            out["pix_recurrence"] = tags[f"{root}.25"]
            break
    return out


def txid_ok(txid: str) -> bool:
    """True when a reference (62.05) is 1-25 letters and digits, or ``***``."""
    return _TXID.fullmatch(txid) is not None
