"""The emulator's web pages: the dev panel and the bike unit's status page."""
