"""Bad input to every CLI command, run as a user runs it (``python -m cli`` in a subprocess, in an empty working
directory, no cloud configured): never a traceback, always the documented exit code (``cli/outcome.py``):
2 bad input or usage, 3 environment problem. The request bodies include the reliability suite's bad queue
messages (``BAD_MESSAGES``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.test_bad_input import BAD_MESSAGES

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "cli" / "small.yaml"
CLOUD_SETTINGS = (
    "EC2AZ_API_URL",
    "EC2AZ_API_KEY",
    "EC2AZ_API_SCOPE",
    "ServiceBusConnection__fullyQualifiedNamespace",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
)

FILES: dict[str, bytes] = {
    "binary.yaml": b"\xff\xfe\x00\x01garbage\x00",
    "latin1.yaml": "request_id: caf\u00e9\n".encode("latin-1"),
    "markup.yaml": b"request_id: [bold]x\nvms: [unclosed\n  a: [red]b",
    "typo.yaml": b"request_id: typo-wave\naproval: auto\nvms: [{instance: web-01}]\n",
    "unknown-instance.yaml": b"request_id: lost-wave\nvms: [{instance: nobody-01}]\n",
    "list.yaml": b"- a\n- b\n",
    "not-a-scenario.yaml": b"name: x\nestat: {}\nrequest: {}\n",
    **{f"message-{name}.json": body for name, body in BAD_MESSAGES.items()},
}

USAGE = 2
ENVIRONMENT = 3

CASES: list[tuple[str, list[str], int, str]] = [
    ("no command", [], USAGE, ""),
    ("unknown command", ["frobnicate"], USAGE, ""),
    ("unknown option", ["status", "--bogus"], USAGE, ""),
    ("submit a missing file", ["submit", "missing.yaml"], USAGE, "missing.yaml"),
    ("submit a binary file", ["submit", "binary.yaml"], USAGE, "not a UTF-8 text file"),
    ("submit a latin-1 file", ["submit", "latin1.yaml"], USAGE, "not a UTF-8 text file"),
    ("submit YAML with markup", ["submit", "markup.yaml"], USAGE, "request_id: [bold]x"),
    ("submit a typo", ["submit", "typo.yaml"], USAGE, 'did you mean "approval"'),
    # checked before anything is looked up: the request file lists VMs but lacks what every request needs
    ("submit an incomplete request", ["submit", "unknown-instance.yaml"], USAGE, "required field is missing"),
    ("submit a list", ["submit", "list.yaml"], USAGE, "mapping"),
    ("simulate a binary file", ["simulate", "binary.yaml"], USAGE, "not a UTF-8 text file"),
    ("simulate a missing file", ["simulate", "missing.yaml"], USAGE, "missing.yaml"),
    ("simulate a typo", ["simulate", "not-a-scenario.yaml"], USAGE, 'did you mean "estate"'),
    ("status with no local run", ["status"], ENVIRONMENT, "no local run"),
    ("status of a VM with no local run", ["status", "w1", "--vm", "web-01"], ENVIRONMENT, "no local run"),
    ("report with no local run", ["report"], ENVIRONMENT, "no local run"),
    ("dlq list with no local run", ["dlq", "list"], ENVIRONMENT, "no local run"),
    ("dlq replay with no local run", ["dlq", "replay", "nope"], ENVIRONMENT, "no local run"),
    ("status of a missing state dir", ["status", "--state", "nowhere"], ENVIRONMENT, "nowhere"),
    ("approve with nothing deployed", ["approve", "w1", "--by", "alice"], ENVIRONMENT, "EC2AZ_API_URL"),
    ("cancel with nothing deployed", ["cancel", "w1", "--by", "alice"], ENVIRONMENT, "EC2AZ_API_URL"),
    *[(f"submit queue message {name}", ["submit", f"message-{name}.json"], USAGE, "") for name in BAD_MESSAGES],
]


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLOUD_SETTINGS and not k.startswith("AWS_")}
    env.update(
        PYTHONPATH=str(ROOT),
        COLUMNS="80",
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-bad-input")
    for name, body in FILES.items():
        (path / name).write_bytes(body)
    return path


def _cli(workdir: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *argv],
        cwd=workdir,
        env=_environment(**env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _assert_clean(done: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-3000:]
    assert done.returncode == code, output[-2000:]
    assert says in output, output[-2000:]


@pytest.mark.parametrize(("name", "argv", "code", "says"), CASES, ids=[case[0] for case in CASES])
def test_bad_input_gives_one_clear_line_and_the_documented_code(
    workdir: Path, name: str, argv: list[str], code: int, says: str
) -> None:
    _assert_clean(_cli(workdir, argv), code, says)


def test_each_problem_is_shown_once(workdir: Path) -> None:
    done = _cli(workdir, ["submit", "typo.yaml"])
    assert done.stdout.count("aproval") == 1, done.stdout


def test_an_unreachable_function_app_is_an_environment_problem(workdir: Path) -> None:
    done = _cli(workdir, ["status", "w1"], EC2AZ_API_URL="http://127.0.0.1:9/api")
    _assert_clean(done, ENVIRONMENT, "environment:")


def test_approve_without_an_entra_id_sign_in_says_how_to_sign_in(workdir: Path) -> None:
    """The real DefaultAzureCredential with nothing to sign in with (no az, no AZURE_* settings): one line, exit 3."""
    done = _cli(
        workdir,
        ["approve", "w1", "--by", "alice"],
        EC2AZ_API_URL="http://127.0.0.1:9/api",
        EC2AZ_API_SCOPE="api://00000000-0000-0000-0000-0000000000aa/.default",
        PATH=str(Path(sys.executable).parent),
    )
    _assert_clean(done, ENVIRONMENT, "sign in with `az login`")
    assert len((done.stdout + done.stderr).strip().splitlines()) == 1, done.stdout + done.stderr


def test_discover_without_aws_credentials_says_how_to_provide_them(workdir: Path) -> None:
    done = _cli(workdir, ["discover", "--region", "eu-west-1"])
    _assert_clean(done, ENVIRONMENT, "credentials")


def test_help_documents_the_exit_codes(workdir: Path) -> None:
    done = _cli(workdir, ["--help"])
    assert done.returncode == 0
    for text in ("0 all VMs completed", "1 some VMs failed or were rejected", "2 bad input", "3 environment"):
        assert text in " ".join(done.stdout.split()), done.stdout


def test_ctrl_c_during_a_run_stops_with_one_line(workdir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "simulate", str(SMALL), "--no-live", "--state", "interrupted"],
        cwd=workdir,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        # Interrupt once the run is under way (its local host has created its store), however long start-up takes.
        deadline = time.monotonic() + 120
        while not any((workdir / "interrupted").glob("**/*.sqlite*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert "Traceback" not in output, output[-3000:]
    assert process.returncode == ENVIRONMENT, output[-2000:]
    assert "interrupted" in output
