"""Which API keys may sign in to the console: usable keys of the operator role only."""

from __future__ import annotations

from collections.abc import Iterable

from backend.context import Backend
from backend.keyring import ApiKey, dev_entry
from backend.roles import dev_role


def find_operator_key(keys: Iterable[ApiKey], operator_id: str, now: float,
                      key_id: str | None = None) -> ApiKey | None:
    """The newest usable operator-role key of ``operator_id`` among ``keys`` (the one with
    ``key_id`` when given), or None."""
    found = [k for k in keys
             if k.terminal_id == operator_id and k.role == "operator" and k.usable(now)
             and (key_id is None or k.key_id == key_id)]
    return found[-1] if found else None


def dev_operator_key(seed_hex: str, operator_id: str) -> ApiKey | None:
    """The development key of ``operator_id`` when its id names an operator (dev mode only)."""
    if dev_role(operator_id) != "operator":
        return None
    return dev_entry(seed_hex, operator_id, "operator")


def operator_key(backend: Backend, operator_id: str, key_id: str | None = None) -> ApiKey | None:
    """The usable operator key of ``operator_id`` on this back end (its keyring; in dev mode
    also the development key of an id that names an operator), or None."""
    found = find_operator_key(backend.keyring.api_keys, operator_id, backend.now(), key_id)
    if found is None and backend.settings.dev:
        entry = dev_operator_key(backend.settings.signing_seed_hex, operator_id)
        if entry is not None and (key_id is None or entry.key_id == key_id):
            found = entry
    return found
