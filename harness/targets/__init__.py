"""Targets: where the system under test runs (local processes, docker compose)."""
