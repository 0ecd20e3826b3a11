"""The kiosk's embedded defaults: the demo menu used by the emulator."""
