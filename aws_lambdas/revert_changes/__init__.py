"""Lambda `revert_changes`: see handler.py."""
