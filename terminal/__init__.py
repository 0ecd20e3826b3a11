"""Composition root, device flows, CLI and the developer emulator."""
