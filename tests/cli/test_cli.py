"""The operator CLI, run in-process the way a user runs it, on the embedded default."""

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.__main__ import main
from cli.local_run import LAST_RUN, read_events
from functions.settings import REQUESTS_QUEUE
from local.app import REQUEST_QUEUE_OPTIONS, open_stored_host
from shared.pipeline import EventType, MigrationEvent

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working directory with one finished local run (the CLI keeps its state under ./.state)."""
    path = tmp_path_factory.mktemp("cli")
    shutil.copy(HERE / "small.yaml", path / "small.yaml")
    return path


@pytest.fixture(scope="module")
def simulated(workdir):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        code = main(["simulate", "small.yaml", "--no-live", "--json", "summary.json"])
    return code


def run(workdir, capsys, *argv):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        code = main(list(argv))
    return code, capsys.readouterr().out


def test_simulate_runs_the_scenario_to_its_expected_outcome(simulated, workdir):
    assert simulated == 0
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["counts"] == {"completed": 1, "rejected": 1}
    assert (workdir / "reports" / "small-wave.html").exists()
    markdown = (workdir / "reports" / "small-wave.md").read_text()
    assert markdown.startswith("# Migration wave `small-wave`")
    assert "- **Environment:** dev \\(run on local\\)" in markdown
    landed = markdown.split("## Where each VM landed")[1].split("##", maxsplit=1)[0]
    assert "rg\\-migrated" in landed and "westeurope" in landed  # the request's target, as the pipeline recorded it
    assert "Premium\\_LRS" in landed  # the disks as replication was enabled, carried across continue-as-new


def test_status_reads_the_last_local_run(simulated, workdir, capsys):
    code, out = run(workdir, capsys, "status", "--json")
    assert code == 0
    status = json.loads(out)
    assert status["request_id"] == "small-wave" and status["runtime_status"] == "Completed"
    assert sorted(vm["state"] for vm in status["vms"]) == ["completed", "rejected"]


def test_report_rewrites_the_report_from_the_stored_run(simulated, workdir, capsys):
    code, out = run(workdir, capsys, "report", "--out", "again")
    assert code == 0 and "again/small-wave.html" in out
    assert "completed" in (workdir / "again" / "small-wave.md").read_text()


def test_dlq_is_empty_after_a_clean_run(simulated, workdir, capsys):
    code, out = run(workdir, capsys, "dlq", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_approve_without_a_deployed_app_explains_itself(workdir, capsys, monkeypatch):
    monkeypatch.delenv("EC2AZ_API_URL", raising=False)
    monkeypatch.delenv("ServiceBusConnection__fullyQualifiedNamespace", raising=False)
    monkeypatch.setenv("EC2AZ_LOCAL_STATE", str(workdir / "no-local-environment"))
    code, out = run(workdir, capsys, "approve", "small-wave", "--by", "alice")
    assert code == 3 and "local up" in out and "operator:" in out


def test_a_broken_scenario_is_reported_with_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nestate: {instances: [{name: a}]}\nrequest: {}\nexpect: {zz: completed}\n")
    code, out = run(tmp_path, capsys, "simulate", str(bad), "--no-live")
    assert code == 2 and "expect.zz: no such estate instance" in out


def test_schema_prints_the_request_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "EC2 to Azure migration request" and "vms" in schema["properties"]


def test_dlq_list_shows_the_cause_and_replay_resends_under_a_new_id(simulated, workdir, capsys):
    """A refused request as the platform leaves it: abandoned to the max delivery count, its cause an event."""
    state = Path((workdir / LAST_RUN).read_text().strip())
    state = state if state.is_absolute() else workdir / state
    with open_stored_host(state) as host:
        assert host.send(REQUESTS_QUEUE, b"{not json", message_id="junk-1").accepted
        for _ in range(REQUEST_QUEUE_OPTIONS.max_delivery_count):
            host.queue.abandon(host.queue.receive(REQUESTS_QUEUE))
    read_events(state).publish(
        [
            MigrationEvent(
                event_id="rejected:junk-1",
                type=EventType.REQUEST_REJECTED,
                request_id="",
                orchestration_id="",
                state="InvalidRequest",
                detail="body: not valid JSON",
                at=datetime(2026, 1, 5, tzinfo=UTC),
            )
        ]
    )

    code, out = run(workdir, capsys, "dlq", "list", "--json")
    [row] = json.loads(out)
    assert code == 0
    assert (row["message_id"], row["reason"]) == ("junk-1", "MaxDeliveryCountExceeded")
    assert row["cause"] == "InvalidRequest: body: not valid JSON"

    code, out = run(workdir, capsys, "dlq", "replay", "junk-1")
    assert code == 0 and "as message junk-1-replay-1" in out
    code, out = run(workdir, capsys, "dlq", "list", "--json")
    assert json.loads(out) == []
    with open_stored_host(state) as host:
        [queued] = host.queue.active(REQUESTS_QUEUE)
    assert (queued.message_id, queued.user_properties["original-message-id"]) == ("junk-1-replay-1", "junk-1")

    code, out = run(workdir, capsys, "dlq", "replay", "junk-1")
    assert code != 0 and "junk-1" in out  # nothing left to replay: one clear line, no traceback
    assert "Traceback" not in out


def test_status_by_name_in_a_subprocess_closes_its_http_session(simulated, workdir):
    """`status --vm NAME` as a user runs it: the name resolves, and no "Unclosed client session" at exit."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "cli", "status", "small-wave", "--vm", "web-01", "--json"],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["name"] == "web-01"
    assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr
