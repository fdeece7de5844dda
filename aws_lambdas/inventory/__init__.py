"""Lambda `inventory`: see handler.py."""
