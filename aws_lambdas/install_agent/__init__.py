"""Lambda `install_agent`: see handler.py."""
