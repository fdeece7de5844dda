"""The local Lambdas in execution-environment processes (local/aws/lambda_environments.py): other pids, side by
side, the same payloads as in-process, logs forwarded, a dead or timed-out environment failing its invocation as
Lambda does, and no process left after close."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import pytest

from aws_lambdas.runtime import logger
from local.aws import LocalLambdaRuntime, seed_estate, start_moto_server
from local.aws.guest import emulator_for_estate
from local.aws.guest_bridge import GuestAgentServer
from local.aws.iam import lambda_role_credentials
from local.clock import VirtualClock
from tests.aws_lambdas.conftest import ESTATE

SLOW = "tests.aws_lambdas.slow_lambda"
#: Never reached: the slow handler makes no AWS call.
NO_AWS = "http://127.0.0.1:9"


def _runtime(size: int, *, timeout_seconds: float = 60.0) -> LocalLambdaRuntime:
    return LocalLambdaRuntime(
        NO_AWS,
        {"AWS_REGION": "eu-west-1"},
        environments=size,
        functions=("slow",),
        handler_module=SLOW,
        timeout_seconds=timeout_seconds,
    )


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """What this process's Powertools handler writes (where the stack's lambdas.log is written)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    captured = io.StringIO()
    previous = handler.setStream(captured)
    try:
        yield captured
    finally:
        handler.setStream(previous)
        logger.setLevel("INFO")


def _side_by_side(runtime: LocalLambdaRuntime, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in events]
    barrier = threading.Barrier(len(events))

    def call(index: int) -> None:
        barrier.wait()
        results[index] = runtime.invoke("slow", events[index])

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "an invocation hung"
    return results


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_invocations_run_in_other_processes_side_by_side() -> None:
    with _runtime(2) as runtime:
        warm = _side_by_side(runtime, [{"marker": "a"}, {"marker": "b"}])  # two cold starts
        assert os.getpid() not in {result["pid"] for result in warm}
        assert runtime.environments is not None and runtime.environments.cold_starts == 2
        slow = _side_by_side(runtime, [{"seconds": 1.5}, {"seconds": 1.5}])
        pids = {result["pid"] for result in slow}
        assert os.getpid() not in pids and len(pids) == 2
        assert pids == {result["pid"] for result in warm} == set(runtime.environments.pids())  # warm: reused
        assert max(r["started"] for r in slow) < min(r["ended"] for r in slow), "the invocations did not overlap"
        assert runtime.environments.cold_starts == 2
        assert all(0 < r["remaining_ms"] <= 60_000 for r in slow)  # the function's timeout, on its context


def test_more_invocations_than_environments_wait_for_one() -> None:
    with _runtime(1) as runtime:
        results = _side_by_side(runtime, [{"seconds": 0.5}, {"seconds": 0.5}])
        assert results[0]["pid"] == results[1]["pid"]
        first, second = sorted(results, key=lambda r: r["started"])
        assert first["ended"] <= second["started"], "one environment ran two invocations at once"


def test_logs_written_in_an_environment_reach_this_process(captured_logs: io.StringIO) -> None:
    with _runtime(1) as runtime:
        runtime.invoke("slow", {"marker": "forwarded-1"})
        logger.setLevel("DEBUG")  # the level this process's logger has at the invocation applies in the environment
        runtime.invoke("slow", {"marker": "forwarded-2"})
    text = captured_logs.getvalue()
    assert '"marker":"forwarded-1"' in text and '"message":"slow handler started"' in text
    debug = [line for line in text.splitlines() if "slow handler debug" in line]
    assert len(debug) == 1 and '"marker":"forwarded-2"' in debug[0]


def _children() -> set[int]:
    """This process's children, whichever of its threads started them."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with contextlib.suppress(OSError):
            found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def test_close_leaves_no_environment_process() -> None:
    before = _children()
    runtime = _runtime(2)
    _side_by_side(runtime, [{"seconds": 0.2}, {"seconds": 0.2}])
    assert runtime.environments is not None
    pids = runtime.environments.pids()
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    assert set(pids) <= _children() - before
    runtime.close()
    assert not [pid for pid in pids if _alive(pid)]
    assert _children() - before == set(), "a process the environments started outlived close"
    usage = runtime.environment_usage()  # each reported its own usage as it stopped
    assert {item.pid for item in usage} == set(pids) and all(item.cpu_seconds > 0 for item in usage)
    with pytest.raises(RuntimeError, match="closed"):
        runtime.invoke("slow", {})


def test_a_killed_environment_fails_its_invocation_and_is_replaced() -> None:
    with _runtime(1) as runtime:
        assert runtime.environments is not None
        first = runtime.invoke("slow", {})["pid"]
        answer: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: answer.update(runtime.invoke("slow", {"seconds": 60})))
        started = time.monotonic()
        thread.start()
        time.sleep(1.0)  # the handler is sleeping in the environment
        os.kill(first, signal.SIGKILL)
        thread.join(30)
        assert not thread.is_alive(), "the invocation hung on a dead environment"
        assert time.monotonic() - started < 30
        assert answer["errorType"] == "Runtime.ExitError"
        assert answer["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
        assert not _alive(first)
        again = runtime.invoke("slow", {})
        assert "errorType" not in again and again["pid"] != first  # a new environment (a cold start)
        assert runtime.environments.cold_starts == 2 and runtime.environments.pids() == [again["pid"]]


def test_an_environment_that_died_while_idle_is_not_given_an_invocation() -> None:
    with _runtime(1) as runtime:
        first = runtime.invoke("slow", {})["pid"]
        assert runtime.environments is not None
        (idle,) = runtime.environments._idle
        os.kill(first, signal.SIGKILL)
        # its end is observable: the process ended and its end of the pipe is closed (EOF)
        assert wait([idle.process.sentinel], timeout=10) and wait([idle.conn], timeout=10)
        again = runtime.invoke("slow", {})
        assert "errorType" not in again and again["pid"] != first


def test_an_invocation_past_the_timeout_is_stopped() -> None:
    with _runtime(1, timeout_seconds=2.0) as runtime:
        first = runtime.invoke("slow", {})["pid"]
        started = time.monotonic()
        answer = runtime.invoke("slow", {"seconds": 30})
        assert time.monotonic() - started < 15
        assert answer["errorType"] == "Sandbox.Timedout"
        assert answer["errorMessage"].endswith("Task timed out after 2.00 seconds")
        assert not _alive(first)
        assert runtime.invoke("slow", {})["pid"] != first


def test_environments_answer_as_the_in_process_runtime(captured_logs: io.StringIO) -> None:
    """The real handlers against moto's server, under their roles: a success and a failure give the same
    payloads in an environment process as in this process."""
    agent = GuestAgentServer()
    with agent.serving(), start_moto_server(guest_agent_url=agent.url, enforce_iam=True) as server:
        seeded = seed_estate(ESTATE, server.endpoint_url)
        ids = {name: item.instance_id for name, item in seeded.instances.items()}
        agent.attach(emulator_for_estate(VirtualClock(), ESTATE, ids, seeded=seeded))  # SSM's answers about guests
        roles = lambda_role_credentials(server.endpoint_url, ESTATE.region)
        web = seeded.instance_id("web-1")
        events = [
            {"migration_id": "vm-env-1", "instance_ids": [web]},
            {"migration_id": "vm-env-2", "instance_ids": ["not-an-instance-id"]},
        ]
        # inventory under command_status's role, which may not describe instances: refused by moto's IAM
        swapped = {**roles, "inventory": roles["command_status"]}
        answers = {}
        for size in (0, 1):
            answers[size] = []
            for credentials, batch in ((roles, events), (swapped, events[:1])):
                with LocalLambdaRuntime(
                    server.endpoint_url, seeded.lambda_environment(), credentials=credentials, environments=size
                ) as runtime:
                    answers[size] += [runtime.invoke("inventory", event) for event in batch]
                    if size:
                        assert runtime.environments is not None and os.getpid() not in runtime.environments.pids()
    success, failure, denied = answers[1]
    assert [facts["instance_id"] for facts in success["facts"]] == [web] and success["facts"][0]["ssm_managed"]
    assert failure["errorType"] == "InvalidRequestError" and failure["stackTrace"]
    assert denied["errorType"] == "AccessDeniedError" and "ec2:DescribeInstances" in denied["errorMessage"]
    assert answers[1] == answers[0]
    text = captured_logs.getvalue()
    assert text.count('"message":"inventory failed"') == 4  # the failures' warnings, from each runtime
