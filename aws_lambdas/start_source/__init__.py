"""Lambda `start_source`: see handler.py."""
