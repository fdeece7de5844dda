"""Activities: thin adapters from an orchestration step to one gateway call (registered on ``bp``)."""

import azure.durable_functions as df

bp = df.Blueprint()
