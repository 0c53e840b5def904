"""ASGI middleware around every answer: body limits, security headers, observing requests."""
