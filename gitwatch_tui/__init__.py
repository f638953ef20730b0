"""gitwatch-tui: watch many git repositories at once and keep them in sync."""

__version__ = "0.1.0"
