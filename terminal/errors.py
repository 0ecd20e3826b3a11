"""The error tree of the terminal package."""


class TerminalError(Exception):
    """Root of every error raised by the terminal package."""


class ConfigError(TerminalError):
    """A configuration file is missing, malformed or holds a wrong value."""


class FlowError(TerminalError):
    """A device flow was driven with an event its current state does not accept."""
