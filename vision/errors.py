"""The error tree of the vision package."""


class VisionError(Exception):
    """Root of every error raised by the vision package."""


class ModelError(VisionError):
    """A model file is missing, unreadable or fails its checksum."""
