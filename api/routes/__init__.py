"""HTTP routes of the JSON API: each translates a request into one use case or one view query."""
