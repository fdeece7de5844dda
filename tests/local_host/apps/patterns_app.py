"""A small DFApp covering the Durable Functions sample patterns, for the local host's tests."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from functions.retry import AWS_CALL, RetryPolicy
from shared.errors import DeadLetterError

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Test-visible records (the tests reset them); keyed so parallel hosts in one process do not collide.
RECORD: dict[str, list[object]] = {}
NON_DETERMINISTIC = {"swap": False}


def record(key: str, value: object) -> None:
    RECORD.setdefault(key, []).append(value)


# -- activities ---------------------------------------------------------------------------------------------


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.activity_trigger(input_name="request")
def make_batch(request: dict) -> list:
    return [{"n": i} for i in range(int(request["size"]))]


@app.activity_trigger(input_name="item")
def square(item: dict) -> int:
    return int(item["n"]) ** 2


@app.activity_trigger(input_name="key")
def always_fails(key: str) -> str:
    record(f"always_fails:{key}", 1)
    raise RuntimeError(f"boom {key}")


@app.activity_trigger(input_name="key")
def fails_twice(key: str) -> str:
    record(f"fails_twice:{key}", 1)
    if len(RECORD[f"fails_twice:{key}"]) <= 2:
        raise RuntimeError("not yet")
    return f"ok after {len(RECORD[f'fails_twice:{key}'])}"


@app.activity_trigger(input_name="payload")
async def async_echo(payload: dict) -> dict:
    return {"echo": payload}


# -- orchestrators ------------------------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def chaining(context: df.DurableOrchestrationContext):
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        context.set_custom_status({"step": city})
        results.append((yield context.call_activity(say_hello, city)))
    echoed = yield context.call_activity(async_echo, {"cities": 3})
    return {"greetings": results, "echo": echoed}


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    size = context.get_input()["size"]
    batch = yield context.call_activity(make_batch, {"size": size})
    squares = yield context.task_all([context.call_activity(square, item) for item in batch])
    return {"count": len(squares), "sum": sum(squares)}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(hours=72)
    timeout = context.create_timer(deadline)
    decision = context.wait_for_external_event("Approval")
    winner = yield context.task_any([decision, timeout])
    if winner == decision:
        timeout.cancel()
        return {"outcome": "approved", "by": decision.result}
    return {"outcome": "timed_out", "at": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def monitor(context: df.DurableOrchestrationContext):
    state = context.get_input()
    yield context.create_timer(context.current_utc_datetime + timedelta(minutes=30))
    count = state["count"] + 1
    context.set_custom_status({"checks": count})
    if count < state["max"]:
        context.continue_as_new({"count": count, "max": state["max"]})
        return None
    return {"checks": count, "finished": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    key = context.get_input()
    value = yield context.call_activity(fails_twice, key)
    return {"child": value}


@app.orchestration_trigger(context_name="context")
def parent_with_retry(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=3)
    key = context.get_input()
    results = yield context.task_all(
        [context.call_sub_orchestrator_with_retry(flaky_child, retry, f"{key}-{i}") for i in range(3)]
    )
    plain = yield context.call_sub_orchestrator("chaining", None, f"{context.instance_id}-chain")
    return {"children": results, "chain": plain["greetings"]}


@app.orchestration_trigger(context_name="context")
def retry_exhausted(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)
    try:
        yield context.call_activity_with_retry(always_fails, retry, context.get_input())
    except Exception as exc:
        return {"failed": True, "error": str(exc).splitlines()[0]}
    return {"failed": False}


#: Grows 5, 10, then stops at 12 s.
CAPPED_RETRY = RetryPolicy("capped", first_retry_seconds=5, attempts=5, backoff=2.0, max_seconds=12)


@app.orchestration_trigger(context_name="context")
def retry_backoff(context: df.DurableOrchestrationContext):
    """Always fails under the project's AWS policy (input ``aws:<key>``) or a capped one (``capped:<key>``)."""
    policy = AWS_CALL if str(context.get_input()).startswith("aws:") else CAPPED_RETRY
    try:
        yield context.call_activity_with_retry(always_fails, policy, context.get_input())
    except Exception:
        return "gave up"
    return "succeeded"


class _TimeoutRetry(df.RetryOptions):
    """5 s, then doubling, for at most 12 s from the first attempt (``retryTimeoutInMilliseconds``)."""

    def __init__(self) -> None:
        super().__init__(5_000, 10)

    def to_json(self) -> dict:
        return {**super().to_json(), "backoffCoefficient": 2, "retryTimeoutInMilliseconds": 12_000}


@app.orchestration_trigger(context_name="context")
def retry_timeout(context: df.DurableOrchestrationContext):
    yield context.call_activity_with_retry(always_fails, _TimeoutRetry(), context.get_input())
    return "succeeded"


@app.orchestration_trigger(context_name="context")
def retry_then_success(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=1_000, max_number_of_attempts=5)
    first = yield context.call_activity_with_retry(fails_twice, retry, context.get_input())
    second = yield context.call_activity(say_hello, "after retry")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def unhandled_failure(context: df.DurableOrchestrationContext):
    context.set_custom_status("about to fail")
    yield context.call_activity(always_fails, context.get_input())
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def wait_forever(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting")
    value = yield context.wait_for_external_event("Never")
    return value


@app.orchestration_trigger(context_name="context")
def drifting(context: df.DurableOrchestrationContext):
    first = yield context.call_activity(say_hello, "one")
    if NON_DETERMINISTIC["swap"]:
        second = yield context.call_activity(square, {"n": 2})
    else:
        second = yield context.call_activity(say_hello, "two")
    yield context.wait_for_external_event("Go")
    return [first, second]


# -- triggers that use the real DurableOrchestrationClient ---------------------------------------------------


@app.service_bus_queue_trigger(arg_name="msg", queue_name="requests", connection="ServiceBusConnection")
@app.durable_client_input(client_name="client")
async def start_from_queue(msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    request = json.loads(msg.get_body())
    instance_id = f"req-{request['id']}"
    record(
        "start_from_queue",
        {
            "message_id": msg.message_id,
            "delivery_count": msg.delivery_count,
            "props": msg.user_properties,
            "content_type": msg.content_type,
        },
    )
    existing = await client.get_status(instance_id)
    if existing and existing.runtime_status not in (None, df.OrchestrationRuntimeStatus.Failed):
        return
    await client.start_new(request["orchestrator"], instance_id, request.get("input"))


@app.route(route="approve/{instance_id}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def approve(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params["instance_id"]
    await client.raise_event(instance_id, "Approval", req.get_json())
    status = await client.get_status(instance_id)
    return func.HttpResponse(json.dumps({"status": status.runtime_status.value}), status_code=202)


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return client.create_check_status_response(req, instance_id)


@app.route(route="admin/{instance_id}", methods=["GET", "DELETE"])
@app.durable_client_input(client_name="client")
async def admin(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params["instance_id"]
    if req.method == "DELETE":
        await client.terminate(instance_id, "operator cancelled")
        return func.HttpResponse(status_code=202)
    status = await client.get_status(instance_id)
    listed = await client.get_status_by(runtime_status=[df.OrchestrationRuntimeStatus.Completed])
    body = {"status": status.to_json() if status else None, "completed": sorted(s.instance_id for s in listed)}
    return func.HttpResponse(json.dumps(body, default=str), mimetype="application/json")


# -- queue semantics ----------------------------------------------------------------------------------------


@app.service_bus_queue_trigger(arg_name="msg", queue_name="poison", connection="ServiceBusConnection")
def poison(msg: func.ServiceBusMessage) -> None:
    record("poison", msg.delivery_count)
    raise ValueError(f"cannot handle {msg.get_body().decode()}")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="flaky", connection="ServiceBusConnection")
def flaky(msg: func.ServiceBusMessage) -> None:
    record("flaky", (msg.message_id, msg.delivery_count))
    if msg.delivery_count < 2:
        raise RuntimeError("transient hiccup")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="strict", connection="ServiceBusConnection")
def strict(msg: func.ServiceBusMessage) -> None:
    record("strict", msg.message_id)
    body = msg.get_body()
    try:
        json.loads(body)
    except ValueError as exc:
        raise DeadLetterError("InvalidJson", f"body is not JSON: {exc}") from exc


@app.timer_trigger(arg_name="timer", schedule="0 */15 * * * *")
def quarter_hourly(timer: func.TimerRequest) -> None:
    record("quarter_hourly", (timer.schedule_status["Last"], timer.past_due))


# -- benchmark shapes ---------------------------------------------------------------------------------------


@app.activity_trigger(input_name="step")
def vm_step(step: dict) -> dict:
    return {"vm": step["vm"], "done": step["i"]}


@app.orchestration_trigger(context_name="context")
def vm_like(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    last = None
    for i in range(spec["steps"]):
        context.set_custom_status({"step": i})
        last = yield context.call_activity(vm_step, {"vm": spec["vm"], "i": i})
    return last


@app.orchestration_trigger(context_name="context")
def wave(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    children = [
        context.call_sub_orchestrator(vm_like, {"vm": i, "steps": spec["steps"]}, f"{context.instance_id}-vm-{i}")
        for i in range(spec["vms"])
    ]
    results = yield context.task_all(children)
    return {"vms": len(results)}
