"""The local requests queue is configured as infra deploys it, and never kinder than any deployed environment.

Anchors: ``infra/azure/main.bicep`` (defaults) and ``infra/azure/*.bicepparam`` (per environment) for the queue's
``maxDeliveryCount`` and ``duplicateDetectionHistoryTimeWindow`` (wired in ``modules/servicebus.bicep``); Microsoft's
``service-bus-messaging/duplicate-detection.md`` for the window's range (20 s .. 7 days).
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from local.app import REQUEST_QUEUE_OPTIONS
from local.host import QueueOptions

INFRA = Path(__file__).resolve().parents[2] / "infra" / "azure"
_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match or text in {"P", "PT"}:
        raise ValueError(f"not an ISO 8601 duration this test reads: {text!r}")
    d, h, m, s = (int(match.group(k) or 0) for k in "dhms")
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def _param(text: str, name: str, keyword: str) -> str | None:
    found = re.search(rf"^{keyword}\s+{name}\b[^=\n]*=\s*'?([^'\n]+)'?\s*$", text, re.MULTILINE)
    return found.group(1).strip() if found else None


def deployed_request_queues(infra: Path) -> dict[str, tuple[int, timedelta]]:
    """Environment → (max delivery count, duplicate-detection window) of the requests queue as deployed."""
    main = (infra / "main.bicep").read_text(encoding="utf-8")
    default_count = _param(main, "serviceBusMaxDeliveryCount", "param")
    default_window = _param(main, "duplicateDetectionWindow", "param")
    deployed = {}
    for params in sorted(infra.glob("*.bicepparam")):
        text = params.read_text(encoding="utf-8")
        count = _param(text, "serviceBusMaxDeliveryCount", "param") or default_count
        window = _param(text, "duplicateDetectionWindow", "param") or default_window
        assert count and window, f"{params.name}: cannot read the queue settings"
        deployed[params.stem] = (int(count), _duration(window))
    return deployed


def local_queue_problems(options: QueueOptions, deployed: dict[str, tuple[int, timedelta]]) -> list[str]:
    """Where the local queue would be kinder than (or differ from) a deployed one."""
    problems = []
    for environment, (count, window) in deployed.items():
        if options.max_delivery_count != count:
            problems.append(f"{environment}: max delivery count {count}, local {options.max_delivery_count}")
        if options.duplicate_detection_window < window:
            problems.append(
                f"{environment}: duplicate-detection window {window}, local {options.duplicate_detection_window} "
                "(a resend the cloud drops would be delivered locally)"
            )
    return problems


def test_every_environment_is_read():
    assert set(deployed_request_queues(INFRA)) == {"dev", "test", "prod"}


def test_the_local_requests_queue_is_never_kinder_than_a_deployed_one():
    deployed = deployed_request_queues(INFRA)
    assert local_queue_problems(REQUEST_QUEUE_OPTIONS, deployed) == []
    # ... and not harsher than the harshest environment either.
    assert REQUEST_QUEUE_OPTIONS.duplicate_detection_window == max(window for _, window in deployed.values())


def test_the_check_fails_when_an_environment_widens_its_window(tmp_path):
    planted = tmp_path / "azure"
    shutil.copytree(INFRA, planted)
    prod = planted / "prod.bicepparam"
    prod.write_text(
        re.sub(r"param duplicateDetectionWindow = '[^']+'", "param duplicateDetectionWindow = 'P2D'", prod.read_text()),
        encoding="utf-8",
    )
    problems = local_queue_problems(REQUEST_QUEUE_OPTIONS, deployed_request_queues(planted))
    assert problems == [
        "prod: duplicate-detection window 2 days, 0:00:00, local 1 day, 0:00:00 "
        "(a resend the cloud drops would be delivered locally)"
    ]


@pytest.mark.parametrize("window", [timedelta(seconds=19), timedelta(days=7, seconds=1)])
def test_a_window_outside_what_service_bus_allows_is_refused(window):
    with pytest.raises(ValueError, match="between 20 seconds and 7 days"):
        QueueOptions(duplicate_detection_window=window)
