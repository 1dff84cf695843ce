"""Telling other systems what happened: outgoing webhooks (and, beside them, chat and email).

Integrations sit at the level of ``pipelines``: they read the database and are driven by the
job system; engines never import them.

Beside ``webhooks/``: Zulip posts, summary emails and room calendars (docs/integrations.md).
Their adapters speak one protocol and nothing else (``zulip.py``, ``mail.py``, ``calendar.py``,
``outbound.py``); the services join them to the database (``outbox.py``, ``zulip_posts.py``,
``summary_mail.py``, ``calendar_sync.py``, ``attendees.py``, ``settled.py``) and ``tasks.py``
is their periodic work.
"""
