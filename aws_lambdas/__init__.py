"""AWS side of the pipeline: one Lambda per folder (a thin ``handler.py``), gateways over EC2 / SSM / Secrets
Manager, and the guest scripts that SSM Run Command executes (``guest_scripts/``)."""
