"""Guest scripts that SSM Run Command executes, one folder each: ``<script_name>/manifest.yaml`` + the script.

The manifest format is shared with infra (which builds the SSM documents ``<prefix>-<name>`` from it)::

    name: prepare-guest-linux     # SSM document name suffix
    platform: linux               # linux | windows
    script: prepare_guest.sh      # file beside the manifest
    description: ...
    timeout_seconds: 600
    parameters:                   # interpolationType ENV_VAR: the script reads $SSM_<Name>
      - {name: Discovery, type: String, allowed_pattern: "^(true|false)$", default: "false", description: ...}
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.facts import Platform

SCRIPTS_DIR = Path(__file__).resolve().parent


class ManifestError(ValueError):
    """A manifest is missing, malformed or names a script that is not there."""


class ScriptParameter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]{0,63}$")
    type: str = Field(default="String", pattern=r"^String$")
    allowed_pattern: str
    default: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _default_matches(self) -> ScriptParameter:
        try:
            pattern = re.compile(self.allowed_pattern)
        except re.error as exc:
            raise ValueError(f"parameter {self.name}: bad allowed_pattern: {exc}") from exc
        if self.default is not None and not pattern.fullmatch(self.default):
            raise ValueError(f"parameter {self.name}: default {self.default!r} does not match its allowed_pattern")
        return self

    def validate_value(self, value: str) -> None:
        if not re.fullmatch(self.allowed_pattern, value):
            raise ValueError(f"parameter {self.name}={value!r} does not match {self.allowed_pattern}")


class ScriptManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,100}$")
    platform: Platform
    script: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.(sh|ps1)$")
    description: str
    timeout_seconds: int = Field(ge=30, le=172800)
    parameters: tuple[ScriptParameter, ...] = ()
    folder: Path = Field(default=SCRIPTS_DIR, exclude=True)

    @property
    def script_path(self) -> Path:
        return self.folder / self.script

    def script_text(self) -> str:
        """The script as an SSM document runs it: self-contained, the shared library inlined."""
        return inline_library(self.script_path.read_text(encoding="utf-8"))

    def resolve_parameters(self, values: dict[str, str]) -> dict[str, str]:
        """Defaults filled in, unknown names refused, every value checked against its allowed_pattern."""
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{self.name}: unknown parameters {', '.join(unknown)}")
        resolved: dict[str, str] = {}
        for name, parameter in known.items():
            value = values.get(name, parameter.default)
            if value is None:
                raise ValueError(f"{self.name}: parameter {name} is required")
            parameter.validate_value(value)
            resolved[name] = value
        return resolved


LIBRARY = SCRIPTS_DIR / "lib" / "common.sh"
_SOURCE_LIBRARY = re.compile(r'^source "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)/\.\./lib/common\.sh"$', re.MULTILINE)


def inline_library(script: str, library: Path = LIBRARY) -> str:
    """Replace the line that sources ``lib/common.sh`` with the library itself (an SSM document is one file)."""
    if not _SOURCE_LIBRARY.search(script):
        return script
    text = library.read_text(encoding="utf-8").rstrip("\n")
    return _SOURCE_LIBRARY.sub(lambda _: text, script)


def load_manifest(folder: Path) -> ScriptManifest:
    path = folder / "manifest.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        manifest = ScriptManifest.model_validate({**raw, "folder": folder})
    except (OSError, yaml.YAMLError, ValidationError, TypeError) as exc:
        raise ManifestError(f"{path}: {exc}") from exc
    if not manifest.script_path.is_file():
        raise ManifestError(f"{path}: script {manifest.script} is not beside the manifest")
    ext = manifest.script_path.suffix
    if (manifest.platform is Platform.LINUX) != (ext == ".sh"):
        raise ManifestError(f"{path}: a {manifest.platform.value} script cannot be {manifest.script}")
    return manifest


@cache
def load_manifests(root: Path = SCRIPTS_DIR) -> dict[str, ScriptManifest]:
    """Every manifest under ``root`` by its ``name``."""
    manifests: dict[str, ScriptManifest] = {}
    for path in sorted(root.glob("*/manifest.yaml")):
        manifest = load_manifest(path.parent)
        if manifest.name in manifests:
            raise ManifestError(f"{path}: duplicate script name {manifest.name}")
        manifests[manifest.name] = manifest
    return manifests


def manifest(name: str) -> ScriptManifest:
    try:
        return load_manifests()[name]
    except KeyError:
        raise ManifestError(f"no guest script named {name!r} under {SCRIPTS_DIR}") from None
