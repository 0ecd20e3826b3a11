"""The kiosk's screen: a local web app the terminal serves and Chromium shows in kiosk mode."""
