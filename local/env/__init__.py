"""The local environment: the embedded default as a background process the CLI drives like a deployment.

``python -m cli local up`` starts :mod:`local.env.daemon` detached; it owns the local Durable host running the
function app, the embedded queue, moto's server, the Site Recovery and ARM emulators, and serves the function
app's HTTP API on 127.0.0.1. Where it listens is written to ``<state>/endpoint.json`` (:mod:`local.env.endpoint`).
"""
