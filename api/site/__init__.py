"""The public site: server-rendered pages and forms, the score chart, templates and static files."""
