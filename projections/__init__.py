"""The read side: pure folds for every published number, and thin adapters that keep views with
their log position. The live follower, the rebuild and replays all call the same folds."""
