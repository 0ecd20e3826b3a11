"""Where a terminal's back-end services answer: the score service and the payment gateway."""

from __future__ import annotations

from dataclasses import dataclass

from payments.clients.http import ServiceSettings
from terminal.config.schema import Config


@dataclass(frozen=True)
class Endpoints:
    """Where the score service and the payment gateway answer, with this terminal's keys."""

    score: ServiceSettings
    gateway: ServiceSettings

    @classmethod
    def from_config(cls, config: Config) -> Endpoints:
        """The configured production endpoints."""
        return cls(ServiceSettings.from_section(config.score_service),
                   ServiceSettings.from_section(config.gateway))
