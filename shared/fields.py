"""Field names of pydantic models, for "did you mean …" on a mistyped field (difflib over the model's own names)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if found := _model_in(arg):
            return found
    return None


def did_you_mean(root: type[BaseModel], loc: Sequence[int | str]) -> str:
    """``' (did you mean "x"?)'`` for an unknown field at ``loc`` (a pydantic error location) under ``root``."""
    model: type[BaseModel] | None = root
    parts = [p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "tagged-union")))]
    for part in parts[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    if model is None or not parts or not isinstance(parts[-1], str):
        return ""
    close = difflib.get_close_matches(parts[-1], list(model.model_fields), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
