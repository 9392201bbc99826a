"""Locustfiles the harness runs in Locust's own processes; the harness never imports them.

``listener.py`` records every request as a JSON line (wall time, name, status, latency, failed)
in ``$HARNESS_LOAD_DIR/<pid>.jsonl``; ``users.py`` is the declarative user of a scenario's
``load.requests`` (read from ``$HARNESS_LOAD_SPEC``). A scenario's own locustfile runs beside the
listener instead of ``users.py``.
"""
