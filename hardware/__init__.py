"""Device ports (camera, lock, indicator) with real and emulated backends side by side."""
