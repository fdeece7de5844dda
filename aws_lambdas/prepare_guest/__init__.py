"""Lambda `prepare_guest`: see handler.py."""
