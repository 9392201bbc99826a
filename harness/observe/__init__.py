"""What the harness observes of the system under test: events, probes, workload answers."""
