"""Security checks over a full demo run: no secret anywhere it writes, and every security group rule scoped and
removed at the end."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.scenario import load_scenario
from local.stack import ROOT, LocalStack
from reporting import WaveReport, write_report
from tests.reliability.conftest import WaveRun, rule_key, wave

#: Access key ids (AKIA/ASIA...) and 40-character secret keys; moto's fake ones and the test env's are allowed.
ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b")
SECRET_KEY = re.compile(r"(?i)aws_?secret_?access_?key\W{0,5}([A-Za-z0-9/+=]{40})")
MOTO_FAKES = {"FOOBARKEY", "AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE", "testing"}


@dataclass
class DemoRun:
    run: WaveRun
    texts: dict[str, str]
    secrets: list[str]


def _sqlite_rows(path: Path) -> Iterator[str]:
    with sqlite3.connect(path) as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - table names from sqlite_master
                yield " ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row)


@contextmanager
def _output_to(folder: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to files in ``folder``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with (folder / "stdout.txt").open("wb") as out, (folder / "stderr.txt").open("wb") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    state_dir = tmp_path_factory.mktemp("demo-state")
    reports = tmp_path_factory.mktemp("demo-reports")
    output = tmp_path_factory.mktemp("demo-output")
    scenario = load_scenario(ROOT / "local/scenarios/demo.yaml")
    with _output_to(output), wave(scenario, state_dir, watch_rules=True) as run:
        stack: LocalStack = run.stack
        assert run.outcome.summary is not None
        report = WaveReport.from_run(
            run.outcome.summary, run.outcome.progress, list(stack.events.read()), environment="local", clock="virtual"
        )
        write_report(report, reports)
        secrets = [stack.seeded.agent_config.get_secret_value()]
        texts: dict[str, str] = {}
        sys.stdout.flush()
        sys.stderr.flush()
        for path in sorted(p for p in [*state_dir.rglob("*"), *reports.rglob("*"), *output.rglob("*")] if p.is_file()):
            raw = path.read_bytes()
            if raw.startswith(b"SQLite format 3"):
                texts[str(path)] = "\n".join(_sqlite_rows(path))
            else:
                texts[str(path)] = raw.decode("utf-8", "replace")
        for status in stack.host.instances():
            full = stack.host.status(status.instance_id, show_history=True)
            texts[f"status:{status.instance_id}"] = repr(full)
        yield DemoRun(run, texts, secrets)


def test_the_demo_ran_and_wrote_what_is_scanned(demo: DemoRun) -> None:
    names = " ".join(demo.texts)
    for expected in ("events.jsonl", "lambdas.log", ".html", ".md", "stdout.txt", "stderr.txt"):
        assert expected in names, expected
    assert any(text.count("\n") > 100 for name, text in demo.texts.items() if "host" in name), "no host SQLite read"
    assert demo.run.outcome.summary is not None and demo.run.outcome.summary.counts.get("completed") == 10


def test_no_secret_value_appears_in_anything_the_run_wrote(demo: DemoRun) -> None:
    texts = demo.texts
    for secret in demo.secrets:
        pieces = {secret, *(part for part in re.split(r'[{}":,\s]+', secret) if len(part) >= 16)}
        for name, text in texts.items():
            for piece in pieces:
                assert piece not in text, f"a secret value appears in {name}"


def test_no_aws_key_material_appears_but_moto_fakes(demo: DemoRun) -> None:
    for name, text in demo.texts.items():
        keys = set(ACCESS_KEY.findall(text)) - MOTO_FAKES
        assert not keys, f"{name}: {sorted(keys)[:3]}"
        secrets = set(SECRET_KEY.findall(text)) - MOTO_FAKES
        assert not secrets, f"{name}: a secret access key"


def _scoped(rule: dict[str, Any]) -> bool:
    if rule.get("ReferencedGroupInfo"):
        return True
    return str(rule.get("CidrIpv4") or "").endswith("/32") and not rule.get("CidrIpv6")


def test_every_rule_the_run_created_is_scoped(demo: DemoRun) -> None:
    before = {rule["SecurityGroupRuleId"] for rule in demo.run.rules_before}
    created = [rule for rule_id, rule in demo.run.rules_seen.items() if rule_id not in before]
    assert len(created) >= 2 * 11, "the run should have opened 443 and 9443 for every accepted VM"
    for rule in created:
        assert not rule["IsEgress"], rule
        assert _scoped(rule), rule
        assert rule.get("CidrIpv4") != "0.0.0.0/0" and rule.get("CidrIpv6") != "::/0", rule
        assert {"FromPort": rule["FromPort"], "ToPort": rule["ToPort"]} in [
            {"FromPort": p, "ToPort": p} for p in (443, 9443, 22, 5985)
        ], rule


def test_every_rule_the_run_created_is_gone_at_the_end(demo: DemoRun) -> None:
    from tests.reliability.conftest import all_rules

    after = all_rules(demo.run.stack)
    kept = demo.run.kept_for_replication()  # a VM that kept replicating keeps what replication goes through
    assert {rule_key(r) for r in after} == {rule_key(r) for r in [*demo.run.rules_before, *kept]}
    created = set(demo.run.rules_seen) - {rule["SecurityGroupRuleId"] for rule in demo.run.rules_before}
    assert not (created - {rule["SecurityGroupRuleId"] for rule in kept}) & {
        rule["SecurityGroupRuleId"] for rule in after
    }
