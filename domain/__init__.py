"""The write side of Verdict Ledger: aggregates decide, events record, one service runs the use cases."""
