"""The emulator: the reference back end and simulated devices for development and the demo."""
