"""Entry points: the HTTP service, its composition root and the `verdict` command line."""
