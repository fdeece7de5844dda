"""Nothing in the repository depends on a path outside it: a clone in a directory of any name, on any machine,
has everything its tests, tools and documents refer to.

Every tracked file is searched for references that leave the checkout: the sibling folder named ``shared`` beside a
working copy (where a design document and fixtures once lived), absolute paths of the machine it was written on
(its work directory, home directories), and code that climbs above the repository root from ``__file__``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Built from parts so this file does not match itself.
_DOT_DOT = r"\.\./"
OUTSIDE = re.compile(
    "|".join(
        [
            _DOT_DOT + r"shared\b",  # the sibling folder beside a working copy
            r"(?<![\w.])/" + "work/",  # absolute paths of the machine it was written on
            r"(?<![\w.])/" + r"home/[a-z_][\w-]*/",
            r"(?<![\w.])/" + "root/",
            r"(?<![\w.])/" + "Users/",
            r"[A-Za-z]:\\\\" + "Users",
        ]
    )
)
_CLIMB = re.compile(r"__file__\)\.resolve\(\)\.parents\[(\d+)\]")
#: Directories never tracked but present in a working copy (skipped when git is not available).
_UNTRACKED = {".git", ".venv", ".venv-infra", "build", ".state", "reports", "node_modules"}


def tracked_files(root: Path = REPO_ROOT) -> list[Path]:
    """The files git tracks (a source tree without git: every file outside the usual untracked folders)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=60
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return [p for p in root.rglob("*") if p.is_file() and not _UNTRACKED & set(p.relative_to(root).parts)]
    return [root / name for name in listed.split("\0") if name and (root / name).is_file()]


def outside_references(path: Path, root: Path = REPO_ROOT) -> list[str]:
    """``file:line: text`` for each reference in ``path`` that leaves the repository."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []  # binary files hold no paths we write
    relative = path.relative_to(root)
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        climbs = [int(k) for k in _CLIMB.findall(line) if path.suffix == ".py"]
        if OUTSIDE.search(line) or any(k >= len(relative.parts) for k in climbs):
            found.append(f"{relative}:{number}: {line.strip()[:160]}")
    return found


def test_no_tracked_file_refers_to_a_path_outside_the_repository() -> None:
    files = tracked_files()
    assert len(files) > 100
    found = [reference for path in files for reference in outside_references(path)]
    assert found == []


def test_each_kind_of_outside_reference_is_caught(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    readme = tmp_path / "docs" / "readme.md"
    readme.write_text("See `" + "../" + "shared/DESIGN.md` beside the checkout.\nNothing else here.\n")
    fixtures = tmp_path / "tests" / "unit" / "test_x.py"
    fixtures.write_text(
        'FIXTURES = Path("/' + 'work/shared/fixtures")\n'
        'CONFIG = "/' + 'home/alice/.config/x"\n'
        "ROOT = Path(__file__).resolve().parents[2]\n"
        "ABOVE = Path(__file__).resolve().parents[" + "3]\n"
    )
    assert outside_references(readme, tmp_path) == [f"docs{'/'}readme.md:1: " + readme.read_text().splitlines()[0]]
    assert [ref.split(":")[1] for ref in outside_references(fixtures, tmp_path)] == ["1", "2", "4"]
    assert set(tracked_files(tmp_path)) == {readme, fixtures}
