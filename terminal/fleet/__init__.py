"""A unit's link to the operator's fleet over MQTT: reports, alarms, events and commands.

- settings: ``terminal.fleet.settings`` (broker URL, per-device credentials from a file or the
  environment, timers) built from ``[fleet]``;
- the connection: ``terminal.fleet.link`` (paho-mqtt: persistent session, QoS 1, last will,
  retained online status, reconnect with backoff);
- the unit's fleet state: ``terminal.fleet.store`` (SQLite: commands seen and their acks, the
  message sequence, the reporting interval);
- events: ``terminal.fleet.drain`` (the SQLite outbox drained over MQTT, marked delivered only
  after the broker's PUBACK);
- reports: ``terminal.fleet.reporter`` (heartbeat and position at the reporting interval on an
  injected clock, alarms when a jam, a low battery or an over-long ride appears);
- commands: ``terminal.fleet.commands`` (unlock, lock, find, set_interval; deadline; a command id
  is executed once and its first ack re-sent);
- what a command does on a device: ``terminal.fleet.control`` (a bike-lock unit, a kiosk);
- all of it together: ``terminal.fleet.agent`` (:class:`FleetAgent`).

Payloads and topics are :mod:`payments.fleet_messages` (shared with the back end's bridge).
Money calls stay on HTTPS.
"""
