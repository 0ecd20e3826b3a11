"""The ordering kiosk: Smile to Pay (face + phone digits) and its consented enrollment."""
