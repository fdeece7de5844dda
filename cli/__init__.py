"""The operator's command line: ``python -m cli --help``."""
