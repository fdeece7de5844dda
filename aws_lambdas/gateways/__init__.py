"""Adapters from boto3 to the ports the handlers use (:mod:`.ports`); AWS errors become typed errors here."""
