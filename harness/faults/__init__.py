"""Fault drivers: the code that injects and heals network and process faults."""
