"""Load a ``function_app.py`` by path and index its functions by trigger, as the Python worker does."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

ORCHESTRATION = "orchestrationTrigger"
ACTIVITY = "activityTrigger"
ENTITY = "entityTrigger"
SERVICE_BUS = "serviceBusTrigger"
TIMER = "timerTrigger"
HTTP = "httpTrigger"
DURABLE_CLIENT = "durableClient"


class FunctionIndexError(Exception):
    """The function app could not be loaded or indexed."""


@dataclass(frozen=True)
class IndexedFunction:
    """One function of the app: its name, trigger, bindings and the callable the worker would invoke."""

    name: str
    trigger_type: str
    trigger: dict[str, Any]
    bindings: tuple[dict[str, Any], ...]
    callable: Callable[..., Any]
    is_async: bool
    accepts_context: bool

    @property
    def trigger_param(self) -> str:
        return str(self.trigger["name"])

    @property
    def client_param(self) -> str | None:
        for binding in self.bindings:
            if binding.get("type") == DURABLE_CLIENT:
                return str(binding["name"])
        return None

    @property
    def route(self) -> str:
        return str(self.trigger.get("route") or self.name)

    @property
    def methods(self) -> tuple[str, ...]:
        methods = self.trigger.get("methods") or ("GET", "POST")
        return tuple(str(getattr(m, "value", m)).upper() for m in methods)


@dataclass
class FunctionIndex:
    """The app's functions, by trigger type and name."""

    app_path: Path
    module_name: str
    by_type: dict[str, dict[str, IndexedFunction]] = field(default_factory=dict)

    def get(self, trigger_type: str, name: str) -> IndexedFunction:
        functions = self.by_type.get(trigger_type, {})
        if name not in functions:
            known = ", ".join(sorted(functions)) or "none"
            raise FunctionIndexError(f"no {trigger_type} function named {name!r} in {self.app_path} (known: {known})")
        return functions[name]

    def find(self, trigger_type: str, name: str) -> IndexedFunction | None:
        return self.by_type.get(trigger_type, {}).get(name)

    def of_type(self, trigger_type: str) -> list[IndexedFunction]:
        unique = {f.name: f for f in self.by_type.get(trigger_type, {}).values()}
        return list(unique.values())


_CACHE: dict[Path, FunctionIndex] = {}
_CACHE_LOCK = threading.Lock()


def load_function_index(app_path: str | Path) -> FunctionIndex:
    """Import the app once per process and index it (``get_functions()`` may be called only once per app)."""
    path = Path(app_path).resolve()
    with _CACHE_LOCK:
        if path not in _CACHE:
            _CACHE[path] = _build_index(path)
        return _CACHE[path]


def _import_app_module(path: Path) -> tuple[str, Any]:
    if not path.is_file():
        raise FunctionIndexError(f"function app file not found: {path}")
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module_name = path.stem
    existing = sys.modules.get(module_name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() != path:
        module_name = f"{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"  # noqa: S324
    if module_name in sys.modules:
        return module_name, sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise FunctionIndexError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[module_name]
        raise
    return module_name, module


def _find_app(module: Any, path: Path) -> func.FunctionRegister:
    app = getattr(module, "app", None)
    if isinstance(app, func.FunctionRegister):
        return app
    for value in vars(module).values():
        if isinstance(value, func.FunctionRegister):
            return value
    raise FunctionIndexError(f"{path} defines no function app (a df.DFApp / func.FunctionApp instance)")


def _build_index(path: Path) -> FunctionIndex:
    module_name, module = _import_app_module(path)
    app = _find_app(module, path)
    index = FunctionIndex(app_path=path, module_name=module_name)
    for function in app.get_functions():
        trigger = function.get_trigger()
        if trigger is None:
            continue
        trigger_dict = dict(trigger.get_dict_repr())
        trigger_type = str(trigger_dict.get("type"))
        name = str(function.get_function_name())
        user_callable = function.get_user_function()
        target = inspect.unwrap(user_callable)
        signature_params = inspect.signature(user_callable).parameters
        indexed = IndexedFunction(
            name=name,
            trigger_type=trigger_type,
            trigger=trigger_dict,
            bindings=tuple(dict(b.get_dict_repr()) for b in function.get_bindings()),
            callable=user_callable,
            is_async=inspect.iscoroutinefunction(user_callable) or inspect.iscoroutinefunction(target),
            accepts_context="context" in signature_params,
        )
        bucket = index.by_type.setdefault(trigger_type, {})
        bucket[name] = indexed
        # Orchestrations and activities may carry an explicit name in the trigger; callers may use either.
        aliases = (
            trigger_dict.get("orchestration"),
            trigger_dict.get("activity"),
            trigger_dict.get("entityName"),
            getattr(function, "_name", None),
        )
        for alias in aliases:
            if alias and alias not in bucket:
                bucket[str(alias)] = indexed
    return index
