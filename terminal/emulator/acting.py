"""The kiosk's face sensor in the emulator: a clip can stand in for a customer who answers.

A recorded clip cannot answer the kiosk's randomised prompt. When the dev panel puts "a
customer" in front of the camera (a face clip played as a person), this sensor lets the
emulator's scripted customer act the answers over the recorded face (see
:mod:`terminal.emulator.customer`). For every other view — a clip played as is, a printed photo
or a phone screen held up — the kiosk's real sensor judges alone, so attacks stay attacks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from terminal.emulator.customer import ActingSensor, ScriptedCustomer, SensorOverlay
from terminal.kiosk.face_sensor import FaceSensor
from vision.face.types import FaceObservation


class PanelCustomerSensor(SensorOverlay):
    """``inner`` with a scripted customer acting over the face while ``acting()`` says so."""

    def __init__(self, inner: FaceSensor, acting: Callable[[], bool],
                 customer: ScriptedCustomer | None = None) -> None:
        super().__init__(inner)
        self._acting = acting
        self._customer = customer or ScriptedCustomer()
        self._actor = ActingSensor(inner, self._customer)

    def show(self, action: str | None, t: float) -> None:
        """What the kiosk screen asks for now (the customer reads it)."""
        self._customer.see(action, t)

    def observe(self, image: np.ndarray, timestamp: float) -> FaceObservation | None:
        """The face in ``image``; acted when a customer stands in front of the camera."""
        if self._acting():
            return self._actor.observe(image, timestamp)
        return self._inner.observe(image, timestamp)
