"""A handler for the execution-environment tests: it logs through the Lambdas' Powertools logger, sleeps as long
as its event says, fails when told to, and reports the process and wall-clock times it ran in."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambdas.runtime import logger


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.info("slow handler started", extra={"marker": event.get("marker", "")})
    logger.debug("slow handler debug", extra={"marker": event.get("marker", "")})
    started = time.time()
    time.sleep(float(event.get("seconds", 0)))
    if event.get("fail"):
        raise ValueError(str(event["fail"]))
    return {
        "pid": os.getpid(),
        "started": started,
        "ended": time.time(),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
