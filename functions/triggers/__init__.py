"""Triggers: the queue that starts waves, the replication-health timer, and the operator's HTTP API."""

import azure.durable_functions as df

bp = df.Blueprint()
