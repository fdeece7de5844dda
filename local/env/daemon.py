"""The local environment's process: one :class:`~local.stack.LocalStack` kept running on a virtual clock that moves
at ``speed`` virtual seconds per real second, and the HTTP front door other processes use (:mod:`local.env.api`).

    python -m local.env.daemon --state .state/local [--scenario FILE] [--speed 120] [--port 0]

Every host operation runs on this process's main thread (the local host runs orchestrations on its caller's
thread): HTTP handlers hand their work to :meth:`Environment.call` and wait for the answer. SIGTERM/SIGINT or
``POST /local/stop`` end the loop; leaving :class:`LocalStack` stops moto's server (the only child process).

The stack is opened with ``persist``: the emulated clouds' state is restored from the state directory on start,
saved there when the stack closes, and saved every :data:`SAVE_SECONDS` while the host has done something since
(between two loop turns, when no activity runs), so a wave in flight continues after `local down` / `local up`
and a killed daemon loses at most the last few seconds of the clouds' changes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from local.clock import VirtualClock
from local.env.endpoint import LocalEndpoint
from local.persistence import IncompatibleStateError
from local.scenario import Scenario, load_scenario
from local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
DEMO_SCENARIO = ROOT / "local" / "scenarios" / "demo.yaml"
#: Virtual seconds per real second by default: a 1-hour replication takes 30 s, and an operator has 36 minutes
#: before a 72-hour approval timeout.
DEFAULT_SPEED = 120.0
#: How often the loop wakes when nothing is runnable (real seconds).
TICK_SECONDS = 0.2
#: How long an HTTP request waits for the main thread to serve it.
CALL_TIMEOUT = 120.0
#: How much virtual time one `local advance` may jump (a bound, not a policy: 60 days).
MAX_ADVANCE = timedelta(days=60)
#: How often (real seconds) the loop saves the emulated clouds' state while the host is doing something.
SAVE_SECONDS = 5.0

T = TypeVar("T")


def environment_scenario(path: Path | None) -> Scenario:
    """The scenario the environment runs: its estate, emulator timings and behaviour. The operator is the user
    (the scenario's scripted ``operator``/``expect`` apply to ``cli demo``/``simulate`` only), and the bundled
    demo's scripted faults apply to the demo only: without ``--scenario`` the estate behaves normally."""
    scenario = load_scenario(path or DEMO_SCENARIO)
    update: dict[str, Any] = {"operator": [], "expect": {}}
    if path is None:
        update["behaviour"] = {}
    return scenario.model_copy(update=update)


class Environment:
    """The running stack, its clock's pace, and the queue of work handed over by the HTTP threads."""

    def __init__(self, stack: LocalStack, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"--speed must be positive, not {speed:g}")
        self.stack = stack
        self.speed = speed
        self.stopping = threading.Event()
        self._calls: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.Queue()
        self.started = time.monotonic()
        self._saved_at = time.monotonic()
        self._saved_work = self._work_done()

    @property
    def clock(self) -> VirtualClock:
        clock = self.stack.clock
        assert isinstance(clock, VirtualClock)
        return clock

    def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the main thread (from an HTTP thread) and return its result, or raise its error."""
        if self.stopping.is_set():
            raise RuntimeError("the local environment is stopping")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls.put((work, future))
        result: T = future.result(timeout=CALL_TIMEOUT)
        return result

    def run(self) -> None:
        """Until told to stop: serve handed-over work, then let virtual time pass at ``speed``."""
        last = time.monotonic()
        while not self.stopping.is_set():
            self._serve_calls()
            now = time.monotonic()
            self.run_for(timedelta(seconds=(now - last) * self.speed))
            last = now
            self.save_if_due()
            self._serve_calls(wait=TICK_SECONDS)
        self._serve_calls()  # answer what arrived meanwhile (calls after the flag is set are refused)

    def save_if_due(self) -> None:
        """Save the clouds' state if the host did something since the last save, at most every SAVE_SECONDS.
        Called between loop turns, when the host is idle (no activity is running)."""
        if time.monotonic() - self._saved_at < SAVE_SECONDS:
            return
        work = self._work_done()
        if work != self._saved_work:
            self.stack.save_state()
            self._saved_work = work
        self._saved_at = time.monotonic()

    def _work_done(self) -> tuple[int, ...]:
        stats = self.stack.host.stats
        return (stats.episodes, stats.activities_executed, stats.messages_delivered, stats.timer_triggers_fired)

    def run_for(self, delta: timedelta) -> None:
        """Run everything due within ``delta`` of virtual time, in order, then stand at its end."""
        end = self.clock.now() + delta
        self.stack.host.run_until_idle(horizon=delta)
        self.clock.advance_to(end)
        self.stack.host.run_until_idle(advance_clock=False)

    def advance(self, delta: timedelta) -> dict[str, Any]:
        if not timedelta(0) < delta <= MAX_ADVANCE:
            raise ValueError(f"advance: expected a duration above 0 and at most {MAX_ADVANCE.days} days")
        before = self.clock.now()
        self.run_for(delta)
        return {"from": before.isoformat(), "to": self.clock.now().isoformat()}

    def _serve_calls(self, wait: float = 0.0) -> None:
        deadline = time.monotonic() + wait
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                work, future = self._calls.get(timeout=timeout) if timeout else self._calls.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except Exception as error:
                    future.set_exception(error)
            wait = 0.0
            deadline = time.monotonic()


def serve(state: Path, scenario_path: Path | None, speed: float, port: int) -> int:
    state.mkdir(parents=True, exist_ok=True)
    scenario = environment_scenario(scenario_path)
    try:
        return _serve_stack(state, scenario, speed, port)
    except IncompatibleStateError as error:
        print(error, flush=True)  # one line, the last of the log: `local up` shows it
        return 2


def _serve_stack(state: Path, scenario: Scenario, speed: float, port: int) -> int:
    from local.env.api import ApiServer  # noqa: PLC0415

    with LocalStack.open(scenario, state / "run", clock=VirtualClock(), persist=True) as stack:
        if stack.restored:
            print(f"the emulated clouds resumed from {state / 'run'} at virtual {stack.clock.now()}", flush=True)
        environment = Environment(stack, speed)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: environment.stopping.set())
        with ApiServer(environment, port) as api:
            endpoint = LocalEndpoint(
                pid=os.getpid(),
                api_url=f"{api.base_url}/api",
                servicebus_url=f"{api.base_url}/servicebus",
                aws_endpoint_url=stack.aws_endpoint_url,
                region=scenario.estate.region,
                scenario=scenario.name,
                speed=speed,
            )
            path = endpoint.write(state)
            print(f"local environment up: {endpoint.api_url}", flush=True)
            try:
                environment.run()
            finally:
                path.unlink(missing_ok=True)
    print("local environment stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the local environment (started by `python -m cli local up`)")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--scenario", type=Path)
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    return serve(args.state, args.scenario, args.speed, args.port)


if __name__ == "__main__":
    sys.exit(main())
