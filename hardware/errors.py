"""The error tree of the hardware package."""


class HardwareError(Exception):
    """Root of every error raised by the hardware package."""


class CameraError(HardwareError):
    """A camera could not be opened or stopped delivering frames."""


class InvalidFrameError(CameraError):
    """A frame image is not a BGR uint8 HxWx3 array."""


class LockError(HardwareError):
    """The lock did not respond as commanded."""


class LockJammedError(LockError):
    """The latch stayed closed after an unlock command."""


class IndicatorError(HardwareError):
    """The indicator could not be driven or was given an unknown state."""
