"""Money, payment codes, back-end clients, deposit policy and the event outbox."""
