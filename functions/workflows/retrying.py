"""Retries as Durable does them, done by the orchestrator so that each one is visible.

Why not ``call_activity_with_retry``: the framework retries whatever an activity raises, bugs included, and the
orchestrator never hears of a retry, so it cannot publish one. Instead a step activity never raises
(:mod:`functions.activities._step`): it answers ``value``, ``error`` (permanent, a broken contract or a bug: the
step fails now, with its cause, after one attempt) or ``transient``. Only a transient answer is retried: the
orchestrator reports the retry (``on_retry``: the VM publishes ``step.retried`` with the attempt and the cause),
waits on a durable timer and calls the activity again, with the named policy's numbers
(:meth:`functions.retry.RetryPolicy.delay_after`: first interval * backoff coefficient ** (attempt - 1), capped at
the maximum interval — what the Durable Task Framework's retry interceptor computes) and attempt count.

Cost, compared with ``call_activity_with_retry``: the same episodes (the failed attempt's answer, then the retry
timer firing) and the same history events per retry, minus the framework's extra timer after the last attempt:
when the policy gives up the step fails at once.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

from functions.retry import RetryPolicy

Flow = Generator[Any, Any, Any]

#: Called before each retry: (the attempt that failed, 1-based; its error as a dict; seconds until the next try).
OnRetry = Callable[[int, dict[str, Any], float], None]

RETRIES_EXHAUSTED = "RetriesExhausted"


def call_with_retry(
    context: Any, activity: Any, policy: RetryPolicy, envelope: dict[str, Any], on_retry: OnRetry | None = None
) -> Flow:
    """Call a step activity, retrying transient answers by ``policy``; returns ``{"value": …}`` or
    ``{"error": …}`` (``RetriesExhausted`` with the last cause when the policy gave up)."""
    attempt = 1
    while True:
        answer = yield context.call_activity(activity, envelope)
        if not isinstance(answer, dict) or not ({"value", "error", "transient"} & answer.keys()):
            return {"error": _broken_answer(activity, answer)}
        cause = answer.get("transient")
        if cause is None:
            return answer
        if attempt >= policy.attempts:
            return {"error": _exhausted(policy, attempt, cause)}
        delay = policy.delay_after(attempt)
        if on_retry is not None:
            on_retry(attempt, cause, delay)
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
        attempt += 1


def describe(cause: dict[str, Any]) -> str:
    """``[code] message (resource)`` of an error dict, on one line."""
    where = f" ({cause['resource']})" if cause.get("resource") else ""
    text = str(cause.get("message") or "").strip().splitlines()
    return f"[{cause.get('code') or cause.get('type') or 'Error'}] {text[0] if text else ''}{where}"[:500]


def _exhausted(policy: RetryPolicy, attempts: int, cause: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "PermanentError",
        "code": RETRIES_EXHAUSTED,
        "message": f"{policy.name}: gave up after {attempts} attempts; last: {describe(cause)}",
        "resource": str(cause.get("resource") or ""),
        "transient": True,
    }


def activity_name(activity: Any) -> str:
    """The registered name of an activity (a ``FunctionBuilder``, as the SDK reads it) or of a plain function."""
    function = getattr(activity, "_function", None)
    name = getattr(function, "_name", None) or getattr(activity, "__name__", None)
    return str(name or activity)


def _broken_answer(activity: Any, answer: Any) -> dict[str, Any]:
    name = activity_name(activity)
    return {
        "type": "PermanentError",
        "code": "BrokenActivityAnswer",
        "message": f"{name} answered {type(answer).__name__}, not the step envelope (value, error or transient)",
        "resource": "",
        "transient": False,
    }
