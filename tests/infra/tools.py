"""Load the scripts of infra/tools/ as modules (infra/ is not a package: its tools run as scripts in CI)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TOOLS_DIR = Path(__file__).resolve().parents[2] / "infra" / "tools"


def load_tool(name: str) -> ModuleType:
    """``infra/tools/<name>.py`` as a module (loaded once per process)."""
    module_name = f"infra_tools_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, TOOLS_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
