"""The operator console: web pages served by the back end for people with the operator role.

- :mod:`.links` mints and checks one-time, short-lived sign-in links (pure; no I/O);
- :mod:`.operators` finds the operator API key behind a link or a session;
- :mod:`.sessions` keeps sign-in sessions (hashed, in the back end's database) and CSRF tokens;
- :mod:`.fleet_view` and :mod:`.disputes_view` call the fleet and dispute services;
- :mod:`.texts` holds every word in English and Chinese (``texts.toml``, by message id);
- :mod:`.render` renders the Jinja2 templates (autoescaped) in the request's language with the
  console's security headers;
- :mod:`.routes` serves the pages under ``/console`` (left out of the OpenAPI document).
"""
