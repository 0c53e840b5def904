"""Following the event log: reading it, tracking positions, waking, rebuilding."""
