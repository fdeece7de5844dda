"""Build the Lambdas' deployment package and check that every handler the template names can run from it.

``build`` stages into ``build/lambda_src/`` (the template's ``CodeUri``) everything the handlers import at run
time: the ``aws_lambdas`` package (guest scripts and their manifests included: ``guest_commands`` reads them
when it runs) and the ``shared`` package (with its data files), plus a ``requirements.txt`` holding the
Lambdas' runtime pins copied from the repository's ``requirements.txt``, which ``sam build`` installs.

``check`` proves the package is enough, the way Lambda's Python runtime will use it: a fresh interpreter
(``-I -S``: no site-packages, no ``PYTHON*`` variables, working directory elsewhere) whose path holds only the
package and the distributions its ``requirements.txt`` pins (linked from the running environment, with their
own dependencies, at exactly the pinned versions) imports each ``Handler`` and checks the attribute is
callable. A handler is ``path/module.function`` relative to ``CodeUri``: the runtime splits it at the last
``.``, turns the ``/`` of the module path into ``.`` and imports it (``awslambdaric.bootstrap._get_handler``).

Usage (stdlib only for ``build``; ``check`` needs ``packaging`` and the pinned distributions installed)::

    python infra/tools/lambda_package.py build [--output DIR]
    python infra/tools/lambda_package.py check [--package DIR] HANDLER [HANDLER ...]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO_ROOT / "build" / "lambda_src"
#: The packages the handlers import at run time, copied whole (data files included).
PACKAGES = ("aws_lambdas", "shared")
#: The Lambdas' runtime distributions (names as in requirements.txt); their pins are copied, never retyped.
LAMBDA_REQUIREMENTS = ("aws-lambda-powertools", "boto3", "botocore", "pydantic", "PyYAML")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
_HANDLER = re.compile(r"^(?P<module>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)\.(?P<function>[A-Za-z_]\w*)$")


class PackageError(Exception):
    """The package cannot be built or a handler cannot run from it; the message is one line."""


def lambda_requirements(requirements_file: Path = REPO_ROOT / "requirements.txt") -> list[str]:
    """The pinned lines of ``requirements_file`` for the Lambdas' distributions, in file order."""
    wanted = {_canonical(name) for name in LAMBDA_REQUIREMENTS}
    lines = []
    for raw in requirements_file.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        name = re.split(r"[\[=<>!~ ;]", line, maxsplit=1)[0]
        if line and _canonical(name) in wanted:
            if "==" not in line:
                raise PackageError(f"{requirements_file.name}: {line!r} is not pinned with ==")
            lines.append(line)
    missing = wanted - {_canonical(re.split(r"[\[=]", line, maxsplit=1)[0]) for line in lines}
    if missing:
        raise PackageError(f"{requirements_file.name} does not pin {', '.join(sorted(missing))}")
    return lines


def build(output: Path = DEFAULT_OUTPUT, *, repo_root: Path = REPO_ROOT) -> Path:
    """Stage the deployment package into ``output`` (replaced whole) and return it."""
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    for package in PACKAGES:
        source = repo_root / package
        if not (source / "__init__.py").is_file():
            raise PackageError(f"{source} is not a Python package")
        shutil.copytree(source, output / package, ignore=_IGNORED)
    pins = lambda_requirements(repo_root / "requirements.txt")
    header = "# The Lambdas' runtime pins, copied from requirements.txt by infra/tools/lambda_package.py\n"
    (output / "requirements.txt").write_text(header + "\n".join(pins) + "\n", encoding="utf-8")
    return output


def split_handler(handler: str) -> tuple[str, str]:
    """``path/module.function`` → (importable module name, function name), as Lambda's Python runtime reads it."""
    match = _HANDLER.fullmatch(handler)
    if not match:
        raise PackageError(f"handler {handler!r} is not of the form path/module.function")
    return match["module"].replace("/", "."), match["function"]


def link_requirements(requirements: Sequence[str], target: Path) -> list[str]:
    """Link into ``target`` what each pinned distribution installed, and what everything it depends on installed
    (markers evaluated for this interpreter). Returns ``name==version`` of every linked distribution."""
    from importlib import metadata  # noqa: PLC0415

    from packaging.requirements import Requirement  # noqa: PLC0415

    linked: dict[str, str] = {}
    pending: list[tuple[Requirement, frozenset[str]]] = [(Requirement(line), frozenset()) for line in requirements]
    while pending:
        requirement, parent_extras = pending.pop()
        marker_env = [{"extra": extra} for extra in parent_extras] or [{"extra": ""}]
        if requirement.marker is not None and not any(requirement.marker.evaluate(env) for env in marker_env):
            continue
        name = _canonical(requirement.name)
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise PackageError(f"{requirement.name} is required but not installed in {sys.prefix}") from None
        if requirement.specifier and distribution.version not in requirement.specifier:
            raise PackageError(
                f"{requirement.name}{requirement.specifier} is pinned but {distribution.version} is installed"
            )
        extras = frozenset(requirement.extras)
        if name in linked and not extras:
            continue
        linked[name] = distribution.version
        # Link each top-level module, package directory and metadata directory the distribution installed.
        for top in sorted({f.parts[0] for f in distribution.files or () if ".." not in f.parts} - {"__pycache__"}):
            source = Path(str(distribution.locate_file(top)))
            destination = target / top
            if source.exists() and not destination.exists():
                destination.symlink_to(source, target_is_directory=source.is_dir())
        pending.extend((Requirement(dep), extras) for dep in distribution.requires or ())
    return sorted(f"{name}=={version}" for name, version in linked.items())


_PROBE = """
import importlib, json, sys
problems = []
for handler in json.loads(sys.argv[1]):
    module_path, _, function = handler.rpartition(".")
    try:
        module = importlib.import_module(module_path.replace("/", "."))
    except Exception as exc:
        problems.append(f"{handler}: cannot import {module_path.replace('/', '.')}: {type(exc).__name__}: {exc}")
        continue
    target = getattr(module, function, None)
    if not callable(target):
        problems.append(f"{handler}: {module.__name__} defines no callable {function!r}")
print(json.dumps(problems))
"""


def missing_files(package: Path, repo_root: Path = REPO_ROOT) -> list[str]:
    """Files of the repository's packages (modules and the data they read at run time: manifests, scripts, JSON)
    that the package lacks, relative to the package."""
    missing = []
    for name in PACKAGES:
        for source in sorted((repo_root / name).rglob("*")):
            relative = source.relative_to(repo_root)
            if source.is_file() and "__pycache__" not in relative.parts and not (package / relative).is_file():
                missing.append(str(relative))
    return missing


def check(
    package: Path, handlers: Iterable[str], *, python: str = sys.executable, repo_root: Path | None = REPO_ROOT
) -> list[str]:
    """Problems (one line each) importing ``handlers`` from ``package`` and its pinned requirements only, and
    files of ``repo_root``'s packages the package lacks (data read at run time is not seen by an import)."""
    handlers = list(handlers)
    if not handlers:
        return ["no handlers to check"]
    problems = []
    if repo_root is not None and (lacking := missing_files(package, repo_root)):
        more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
        problems.append(f"the package lacks {', '.join(lacking[:3])}{more}")
    for handler in handlers:
        try:
            split_handler(handler)
        except PackageError as error:
            problems.append(str(error))
    requirements_file = package / "requirements.txt"
    if not requirements_file.is_file():
        return [*problems, f"{package} has no requirements.txt (build it with `make lambda-package`)"]
    pins = [line for line in requirements_file.read_text(encoding="utf-8").splitlines() if line and line[0] != "#"]
    with tempfile.TemporaryDirectory(prefix="lambda-deps-") as deps, tempfile.TemporaryDirectory() as elsewhere:
        try:
            link_requirements(pins, Path(deps))
        except PackageError as error:
            return [*problems, str(error)]
        # -I: no PYTHON* variables, no user site, script dir not on the path; -S: no site-packages at all.
        bootstrap = f"import sys; sys.path[:0] = {[str(package.resolve()), deps]!r}; exec({_PROBE!r})"
        result = subprocess.run(
            [python, "-I", "-S", "-B", "-c", bootstrap, json.dumps(handlers)],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return [*problems, f"the handler probe failed: {last}"]
    found: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return [*problems, *found]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="stage the deployment package")
    build_cmd.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    check_cmd = commands.add_parser("check", help="import each handler from the package in a fresh interpreter")
    check_cmd.add_argument("--package", type=Path, default=DEFAULT_OUTPUT)
    check_cmd.add_argument("handlers", nargs="+", metavar="HANDLER")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(build(args.output))
            return 0
        problems = check(args.package, args.handlers)
    except PackageError as error:
        print(f"lambda_package: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"lambda_package: {problem}", file=sys.stderr)
    if not problems:
        print(f"{len(args.handlers)} handlers import and are callable from {args.package}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
