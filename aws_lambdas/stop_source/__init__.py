"""Lambda `stop_source`: see handler.py."""
