"""Code both clouds use: the request contract, the VM lifecycle, preflight rules, health, errors, settings.

The modules here import no cloud SDK (a test keeps it so); gateways in ``functions/`` and ``aws_lambdas/``
adapt the SDKs to the ports declared here.
"""
