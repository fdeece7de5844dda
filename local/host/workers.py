"""Worker processes that replay orchestrators, as the Functions host's Python worker processes do.

In Azure the Functions host runs ``FUNCTIONS_WORKER_PROCESS_COUNT`` language worker processes, each with the whole
app imported, and sends each orchestrator invocation (the context JSON) to one of them; the extension decides from
the answer (the SDK's state JSON). An orchestrator's replay is pure CPU (the SDK rebuilding the history and running
the generator), and it is where the local host's episodes spent their time, on one core. :class:`OrchestratorWorkers`
runs those replays in ``size`` spawned processes: the host begins a batch of episodes, the workers replay them side
by side, and the host decides and commits each in order (:meth:`~local.host.host.LocalHost.run_until_idle`).

What crosses the process boundary (pickled over a pipe): the app's path and settings once; then per batch the
orchestrators' names and context JSON one way and their answers the other. A worker that dies mid-batch is
replaced, and its part of the batch is replayed in the host's process (a replay is deterministic: the answer is the
same wherever it runs). Each worker reports its own CPU and peak RSS (``usage()``), as the Lambda environments do.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from local.process_usage import EnvironmentUsage, own_usage

from .engine import ReplayAnswer, install_timestamp_cache, replay_orchestrator
from .index import ORCHESTRATION, load_function_index

logger = logging.getLogger(__name__)

#: How long stopping workers may take to report their usage and exit before they are killed.
STOP_GRACE_SECONDS = 10.0


def serve(conn: Connection, app_path: str, settings: dict[str, str]) -> None:
    """A worker's process: import the app once, then replay batches until told to stop."""
    os.environ.update(settings)
    index = load_function_index(app_path)
    install_timestamp_cache()
    while True:
        message = conn.recv()
        if message in ("usage", "stop"):
            conn.send(own_usage())
            if message == "stop":
                return
            continue
        answers: list[ReplayAnswer] = []
        for name, body in message:
            try:
                handle = index.get(ORCHESTRATION, name).callable
            except Exception as exc:
                answers.append((None, str(exc)))
                continue
            answers.append(replay_orchestrator(handle, body))
        conn.send(answers)


class _Worker:
    def __init__(self, app_path: str, settings: dict[str, str]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=serve, args=(child, app_path, settings), name="orchestrator-worker", daemon=True
        )
        self.process.start()
        child.close()


class OrchestratorWorkers:
    """``size`` worker processes replaying orchestrators, started on first use with the app settings of that moment."""

    def __init__(self, app_path: str | Path, size: int, *, fallback: Callable[[str, str], ReplayAnswer]) -> None:
        if size < 1:
            raise ValueError("orchestrator workers: size must be at least 1")
        self.app_path = str(app_path)
        self.size = size
        self._fallback = fallback
        self._workers: list[_Worker] = []
        self._stopped: list[EnvironmentUsage] = []

    def _started(self) -> list[_Worker]:
        if not self._workers:
            settings = dict(os.environ)
            self._workers = [_Worker(self.app_path, settings) for _ in range(self.size)]
        return self._workers

    def replay_all(self, jobs: Sequence[tuple[str, str]]) -> list[ReplayAnswer]:
        """Replay each (orchestrator name, context JSON), spread over the workers; answers in the jobs' order."""
        if not jobs:
            return []
        workers = self._started()
        share = -(-len(jobs) // len(workers))
        chunks = [list(jobs[i : i + share]) for i in range(0, len(jobs), share)]
        sent: list[tuple[_Worker, list[tuple[str, str]]]] = []
        for worker, chunk in zip(workers, chunks, strict=False):
            with contextlib.suppress(OSError):  # a dead worker: its answers are taken below
                worker.conn.send(chunk)
            sent.append((worker, chunk))
        answers: list[ReplayAnswer] = []
        for worker, chunk in sent:
            try:
                answers.extend(worker.conn.recv())
            except (EOFError, OSError):
                logger.warning("an orchestrator worker stopped mid-batch; its %d replays run in the host", len(chunk))
                self._replace(worker)
                answers.extend(self._fallback(name, body) for name, body in chunk)
        return answers

    def _replace(self, dead: _Worker) -> None:
        dead.process.join(timeout=1)
        index = self._workers.index(dead)
        self._workers[index] = _Worker(self.app_path, dict(os.environ))

    def usage(self) -> list[EnvironmentUsage]:
        """Each worker's own CPU and peak RSS: the running ones (asked now) and those already stopped."""
        found = list(self._stopped)
        for worker in self._workers:
            try:
                worker.conn.send("usage")
                found.append(worker.conn.recv())
            except (EOFError, OSError):
                continue
        return found

    def close(self) -> None:
        for worker in self._workers:
            try:
                worker.conn.send("stop")
                if worker.conn.poll(STOP_GRACE_SECONDS):
                    self._stopped.append(worker.conn.recv())
            except (EOFError, OSError):
                pass
            worker.process.join(timeout=STOP_GRACE_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers = []
