"""A DFApp whose orchestrations chain CPU-bound activities and a durable timer, for the kill-and-restart test."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import azure.durable_functions as df

app = df.DFApp()

STEPS = 8


@app.activity_trigger(input_name="step")
def crunch(step: dict) -> int:
    digest = str(step["acc"]).encode()
    for _ in range(20_000):  # real work, so the host is busy when it is killed
        digest = hashlib.sha256(digest).digest()
    log = os.environ.get("CRASH_APP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{step['instance']}:{step['i']}\n")
    return int(step["acc"]) + int(step["i"])


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    acc = context.get_input()
    for i in range(STEPS):
        acc = yield context.call_activity(crunch, {"acc": acc, "i": i, "instance": context.instance_id})
        if i == STEPS // 2:
            yield context.create_timer(context.current_utc_datetime + timedelta(minutes=5))
    return acc
