"""The error tree of the hardware package."""


class HardwareError(Exception):
    """Root of every error raised by the hardware package."""


class CameraError(HardwareError):
    """A camera could not be opened or stopped delivering frames."""


class LockError(HardwareError):
    """The lock did not respond as commanded."""
