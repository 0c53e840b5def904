"""How the write side meets its store: the event table query, group commit, the recorders with
conditional saves, the transcoder."""
