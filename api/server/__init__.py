"""The processes: the `verdict` command, the HTTP server, logs, projection workers, rebuilding."""
