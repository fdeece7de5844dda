"""Lambda execution environments as processes: what :class:`~local.aws.lambda_runtime.LocalLambdaRuntime` runs the
handlers in when it is given a pool size.

AWS runs each invocation in an execution environment: a process that initialises once (imports the handler: the
cold start) and then serves one invocation at a time, and Lambda runs as many environments as there are concurrent
invocations. :class:`LambdaEnvironments` does the same on this machine: up to ``size`` long-lived worker processes
(``spawn``: safe with the host's threads), each started on demand (a cold start) with the endpoint, the settings
and the wiring of :class:`~local.aws.lambda_runtime.HandlerHost`, then reused. An invocation goes to an idle
environment, or to a new one while there are fewer than ``size``, or waits for one to be free; so invocations from
the host's activity threads run side by side, one per environment.

What crosses the process boundary (pickled over a pipe): the function's name, the event, that function's role
credentials and the parent's Powertools log level, one way; the handlers' log lines (as they are written) and
the payload, the other. The payload is what Lambda's Invoke API returns: the handler's result or
``{"errorType", "errorMessage", "stackTrace"}``. As in Lambda:

* an environment whose process dies mid-invocation fails that invocation with ``Runtime.ExitError``
  (``RequestId: … Error: Runtime exited with error: signal: killed``) and is discarded; the next invocation that
  needs one starts a new environment;
* an invocation that outlasts the function's timeout is stopped (its environment killed) and fails with
  ``Sandbox.Timedout`` (``Task timed out after N.NN seconds``).

Each environment reports its own ``getrusage(RUSAGE_SELF)`` when it stops (and on request while idle), so the
benchmark can tell its CPU and memory from moto's: both are children of the pipeline's process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from local.process_usage import EnvironmentUsage, own_usage

#: Lambda's limit on the Init phase (the cold start); past it, Lambda retries the Init phase within the first
#: invocation, under the function's timeout. A cold start here may take both before it counts as failed.
INIT_SECONDS = 10.0
#: How long a stopping environment may take to report its usage and exit before it is killed.
STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class EnvironmentConfig:
    """What an environment is configured with once, at its cold start (picklable)."""

    endpoint_url: str
    environment: dict[str, str]
    functions: tuple[str, ...]
    handler_module: str
    signs_with_roles: bool
    timeout_seconds: float


class _ForwardedStream:
    """The Powertools handler's stream inside an environment: each write goes to the parent as it happens."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def write(self, text: str) -> int:
        self._conn.send(("log", text))
        return len(text)

    def flush(self) -> None:
        return None


def serve(conn: Connection, config: EnvironmentConfig) -> None:
    """An environment's process: initialise once, then serve one request at a time until told to stop."""
    from aws_lambdas.runtime import logger  # noqa: PLC0415 - in the environment's process only
    from local.aws.lambda_runtime import HandlerHost  # noqa: PLC0415

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(_ForwardedStream(conn))  # write/flush is all it uses
    host = HandlerHost(
        config.endpoint_url,
        config.environment,
        signs_with_roles=config.signs_with_roles,
        handler_module=config.handler_module,
        timeout_seconds=config.timeout_seconds,
    )
    for function in config.functions:
        host.handler(function)  # the cold start imports the handlers
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        kind = message[0]
        if kind == "invoke":
            _, function, event, role, level, request_id = message
            logger.setLevel(level)
            try:
                payload = host.call(function, event, role, request_id=request_id)
            except Exception as error:  # the runtime's own failure, not the handler's
                conn.send(("failed", f"{type(error).__name__}: {error}"))
                continue
            conn.send(("result", payload))
        elif kind == "usage":
            conn.send(("usage", own_usage()))
        elif kind == "stop":
            conn.send(("usage", own_usage()))
            return


class LambdaEnvironmentError(RuntimeError):
    """The local runtime itself failed in an environment (not the handler: that is a payload)."""


@dataclass(eq=False)
class _Environment:
    """The parent's handle on one environment's process."""

    process: BaseProcess
    conn: Connection
    pid: int = 0
    busy: bool = False

    def alive(self) -> bool:
        """Its process runs: not reaped, and (idle, so nothing to read) its pipe not at EOF, which is seen as soon
        as the process has closed its files, before it can be reaped."""
        return self.process.is_alive() and (self.busy or not self.conn.poll())


def exit_error(request_id: str, process: BaseProcess) -> dict[str, Any]:
    """Lambda's payload for an environment whose runtime exited mid-invocation."""
    code = process.exitcode
    how = f"signal: {_signal_name(-code)}" if code is not None and code < 0 else f"exit status {code}"
    return {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
    }


#: How Lambda's runtime names the signal that ended a process (Go's ``os.ProcessState`` strings).
_SIGNAL_NAMES: dict[int, str] = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGSEGV: "segmentation fault",
}


def _signal_name(number: int) -> str:
    return _SIGNAL_NAMES.get(number, f"signal {number}")


def timeout_error(request_id: str, timeout_seconds: float) -> dict[str, Any]:
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds",
    }


@dataclass
class LambdaEnvironments:
    """A bounded pool of execution environments (see the module's doc). ``write_log`` receives the handlers' log
    text in the parent (the local runtime writes it to the Powertools handler's stream)."""

    config: EnvironmentConfig
    size: int
    write_log: Callable[[str], None]
    _context: Any = field(default_factory=lambda: multiprocessing.get_context("spawn"))
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _idle: list[_Environment] = field(default_factory=list)
    _all: list[_Environment] = field(default_factory=list)
    _starting: int = 0
    _closed: bool = False
    #: Usage reported by environments that stopped cleanly (a killed one reports nothing).
    stopped_usage: list[EnvironmentUsage] = field(default_factory=list)
    #: Environments started (cold starts), for figures and tests.
    cold_starts: int = 0
    #: multiprocessing's resource tracker was started for this pool (spawn starts it with the first process); it
    #: is a child of this process too, so :meth:`close` stops it then.
    _started_tracker: bool = False

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"a pool of Lambda environments needs at least one, not {self.size}")

    # --- dispatch -----------------------------------------------------------------------------------------------

    def invoke(self, function: str, event: Mapping[str, Any], role: Any, level: int) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        environment = self._acquire(request_id)
        if isinstance(environment, dict):  # its cold start failed
            return environment
        healthy = False
        try:
            payload, healthy = self._run(environment, ("invoke", function, dict(event), role, level, request_id))
        except LambdaEnvironmentError:
            healthy = True  # it answered: the runtime's own failure, the environment serves on
            raise
        finally:
            self._release(environment, healthy)
        return payload

    def _run(self, environment: _Environment, message: tuple[Any, ...]) -> tuple[dict[str, Any], bool]:
        request_id = message[-1]
        deadline = time.monotonic() + self.config.timeout_seconds
        try:
            environment.conn.send(message)
        except (BrokenPipeError, OSError):
            return exit_error(request_id, _joined(environment.process)), False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(environment.process)
                return timeout_error(request_id, self.config.timeout_seconds), False
            ready = wait([environment.conn, environment.process.sentinel], timeout=left)
            if not ready:
                continue
            if environment.conn not in ready and not environment.conn.poll():
                return exit_error(request_id, _joined(environment.process)), False
            try:
                reply = environment.conn.recv()
            except (EOFError, OSError):
                return exit_error(request_id, _joined(environment.process)), False
            if reply[0] == "log":
                self.write_log(reply[1])
            elif reply[0] == "result":
                return reply[1], True
            elif reply[0] == "failed":
                raise LambdaEnvironmentError(reply[1])

    # --- the pool -----------------------------------------------------------------------------------------------

    def _acquire(self, request_id: str) -> _Environment | dict[str, Any]:
        with self._cond:
            while True:
                if self._closed:
                    raise LambdaEnvironmentError("the Lambda environments are closed")
                while self._idle:
                    environment = self._idle.pop()
                    if environment.alive():
                        environment.busy = True
                        return environment
                    self._discard(environment)  # died while idle: Lambda would not give it an invocation
                if len(self._all) + self._starting < self.size:
                    self._starting += 1
                    break
                self._cond.wait()
        started: _Environment | dict[str, Any] | None = None
        try:
            started = self._start(request_id)
        finally:
            with self._cond:
                self._starting -= 1
                if isinstance(started, _Environment):
                    self._all.append(started)
                self._cond.notify_all()  # close() may be waiting for this start; a waiter may start another
        assert started is not None
        return started

    def _start(self, request_id: str) -> _Environment | dict[str, Any]:
        """A cold start: a new process, initialised before it serves anything."""
        with self._cond:
            tracker = resource_tracker._resource_tracker
            if getattr(tracker, "_fd", None) is None:  # no public "is it running"
                resource_tracker.ensure_running()
                self._started_tracker = True
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(target=serve, args=(child, self.config), name="lambda-environment", daemon=True)
        process.start()
        child.close()  # the child's end lives in the child only: its death is EOF here
        self.cold_starts += 1
        environment = _Environment(process, parent, busy=True)
        deadline = time.monotonic() + INIT_SECONDS + self.config.timeout_seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not wait([parent, process.sentinel], timeout=left):
                _kill(process)
                parent.close()
                return timeout_error(request_id, INIT_SECONDS + self.config.timeout_seconds)
            try:
                reply = parent.recv()
            except (EOFError, OSError):
                parent.close()
                return exit_error(request_id, _joined(process))
            if reply[0] == "log":
                self.write_log(reply[1])
            elif reply[0] == "ready":
                environment.pid = int(reply[1])
                return environment

    def _release(self, environment: _Environment, healthy: bool) -> None:
        with self._cond:
            if not environment.busy:
                return
            environment.busy = False
            if healthy and not self._closed and environment.alive():
                self._idle.append(environment)
            else:  # discarded: the next invocation that needs one starts a new environment
                self._discard(environment)
            self._cond.notify_all()

    def _discard(self, environment: _Environment) -> None:
        """Forget an environment and end its process (called holding the condition's lock)."""
        if environment in self._all:
            self._all.remove(environment)
        if environment in self._idle:
            self._idle.remove(environment)
        _kill(environment.process)
        environment.conn.close()

    # --- figures and stopping -----------------------------------------------------------------------------------

    def pids(self) -> list[int]:
        with self._cond:
            return [environment.pid for environment in self._all]

    def usage(self) -> list[EnvironmentUsage]:
        """Every environment's own usage: the stopped ones' final reports, and the idle ones' now."""
        with self._cond:
            idle = list(self._idle)
            for environment in idle:
                environment.busy = True
            self._idle.clear()
        reports = list(self.stopped_usage)
        try:
            for environment in idle:
                environment.conn.send(("usage",))
                if environment.conn.poll(STOP_GRACE_SECONDS):
                    reports.append(environment.conn.recv()[1])
        finally:
            for environment in idle:
                self._release(environment, True)
        return reports

    def close(self) -> None:
        """Stop every environment: idle ones report their usage and exit; busy ones (an abandoned host's) are
        killed, their invocations failing with ``Runtime.ExitError``. No process is left behind."""
        with self._cond:
            self._closed = True
            while self._starting:
                self._cond.wait()
            environments = list(self._all)
            idle = set(map(id, self._idle))
            self._idle.clear()
            self._all.clear()
        for environment in environments:
            if id(environment) in idle:
                try:
                    environment.conn.send(("stop",))
                    if environment.conn.poll(STOP_GRACE_SECONDS):
                        reply = environment.conn.recv()
                        if reply[0] == "usage":
                            self.stopped_usage.append(reply[1])
                except (EOFError, OSError):
                    pass
                environment.process.join(STOP_GRACE_SECONDS)
            _kill(environment.process)
            if id(environment) in idle:
                environment.conn.close()
        if self._started_tracker:
            # The pool uses no named semaphore or shared memory, nothing the tracker would have to clean up.
            resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]  # Python 3.11: no public stop
            self._started_tracker = False


def _kill(process: BaseProcess) -> None:
    if process.is_alive():
        process.kill()
    process.join()


def _joined(process: BaseProcess) -> BaseProcess:
    process.join(STOP_GRACE_SECONDS)
    if process.is_alive():
        _kill(process)
    return process
