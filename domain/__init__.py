"""The write side: aggregates decide, events record, one service runs the use cases."""
