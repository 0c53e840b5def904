"""Voting and who may write: the vote use case every entrance calls (votes.py), its fast lane,
credentials, auth and rate limits."""
