"""Lambda `command_status`: see handler.py."""
