"""Lambda `command_watch`: see handler.py."""
