"""Probes: what the harness reads from the system itself (HTTP, commands, SQL, Redis, PromQL).

Each kind is a module registered through the harness's hooks (``harness_probe_kinds``), like
fault drivers; ``tolerance`` judges a value, ``sampling`` turns a read into a timeline sample,
``state`` turns a read into final-state records. Importing this package imports none of them.
"""
