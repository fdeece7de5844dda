"""The Azure side: triggers, orchestrators, activities and the gateways they use (registered by function_app.py)."""
