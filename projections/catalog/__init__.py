"""The catalog: every published figure of every tool, its folds and its view tables."""
