"""Real camera backends (OpenCV VideoCapture, Raspberry Pi camera) and their shared base."""
