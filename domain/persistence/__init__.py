"""How the write side meets its store: the event table query, group commit, the transcoder."""
