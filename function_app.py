"""The Azure Functions app: registers the blueprints. The same file runs in Azure and on the local host."""

import azure.durable_functions as df
import azure.functions as func

# The activity modules register on the blueprint when imported.
from functions.activities import aws, events, preflight, readiness, site_recovery, test_vm  # noqa: F401
from functions.activities import bp as activities
from functions.orchestrators import bp as orchestrators
from functions.triggers import bp as triggers
from functions.triggers import health, http, queue, watch  # noqa: F401 - they register on the blueprint

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(orchestrators)
app.register_functions(activities)
app.register_functions(triggers)
