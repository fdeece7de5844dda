"""Adapters from cloud SDKs to the ports in ``shared/``."""
