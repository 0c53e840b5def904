"""Who may write and how fast: the vote use case's fast lane, credentials, auth and rate limits."""
