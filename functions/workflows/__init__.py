"""Orchestration logic as plain generators over a Durable Functions context.

``functions/orchestrators.py`` registers thin decorated functions that delegate here, so tests and the local host
replay exactly the code that is deployed. Everything here is deterministic: time comes from
``context.current_utc_datetime``, ids from the inputs, no I/O, no environment reads, no logging.
"""
