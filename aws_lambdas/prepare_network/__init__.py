"""Lambda `prepare_network`: see handler.py."""
