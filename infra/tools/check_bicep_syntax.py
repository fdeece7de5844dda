"""Parse Bicep files with tree-sitter-bicep: report syntax errors and a summary of every resource declaration.

Runs under the infra linters' venv (``.venv-infra/bin/python infra/tools/check_bicep_syntax.py FILE...``); no
Bicep compiler can be installed offline, so this is the syntax gate. Prints one JSON object::

    {"files": {"<path>": {"errors": [{"kind": "ERROR"|"MISSING", "line": 3, "column": 7, "text": "..."}],
                          "resources": [{"symbol": "site", "type": "Microsoft.Web/sites@2024-04-01",
                                         "existing": false, "has_parent": false,
                                         "properties": ["name", "location", "tags", ...],
                                         "name": "'${namePrefix}-func'", "line": 12}]}}}

Each file entry also lists ``parameters`` (``param`` declarations: name, has_default) and, for .bicepparam
files, ``assignments`` (the parameter names the file sets). tree-sitter-bicep 1.1.0 has no grammar for the
.bicepparam form ``param name = value``; such lines are parsed as ``var name = value`` (same expression grammar,
same byte offsets), so errors in the values are still found.

Exit code 1 when any file has an ERROR or MISSING node, 2 on bad usage.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

PARAM_ASSIGNMENT = re.compile(rb"^([ \t]*)param(\s+[A-Za-z_][A-Za-z0-9_]*\s*=)", re.MULTILINE)


def _as_bicep(source: bytes, path: Path) -> bytes:
    """The text to parse: .bicepparam assignments rewritten to same-length ``var`` declarations."""
    if path.suffix != ".bicepparam":
        return source
    return PARAM_ASSIGNMENT.sub(rb"\1var  \2", source)


def _parser() -> Parser:
    return Parser(Language(tree_sitter_bicep.language()))


def syntax_errors(root: Node, source: bytes) -> list[dict[str, Any]]:
    """Every ERROR and MISSING node under ``root``, with its 1-based position."""
    found: list[dict[str, Any]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            found.append(
                {
                    "kind": "MISSING" if node.is_missing else "ERROR",
                    "line": node.start_point[0] + 1,
                    "column": node.start_point[1] + 1,
                    "text": source[node.start_byte : node.end_byte].decode("utf-8", "replace")[:80],
                }
            )
        if node.has_error or node.is_missing:
            stack.extend(node.children)
    return sorted(found, key=lambda item: (item["line"], item["column"]))


def _text(node: Node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _body_object(declaration: Node) -> Node | None:
    """The resource's body object, also through ``if (...) {}`` and ``[for ...: {}]`` forms."""
    stack = list(reversed(declaration.children))
    while stack:
        node = stack.pop()
        if node.type == "object":
            return node
        if node.type in {"if_statement", "for_statement"}:
            stack.extend(reversed(node.children))
    return None


def resource_summaries(root: Node, source: bytes) -> list[dict[str, Any]]:
    """One summary per ``resource`` declaration (top-level properties of its body)."""
    summaries: list[dict[str, Any]] = []
    for declaration in root.children:
        if declaration.type != "resource_declaration":
            continue
        identifiers = [child for child in declaration.children if child.type == "identifier"]
        type_node = next((child for child in declaration.children if child.type == "string"), None)
        body = _body_object(declaration)
        properties: dict[str, str] = {}
        if body is not None:
            for prop in body.children:
                if prop.type != "object_property" or not prop.named_children:
                    continue
                key = _text(prop.named_children[0], source).strip("'")
                value = prop.named_children[-1] if len(prop.named_children) > 1 else prop.named_children[0]
                properties[key] = _text(value, source)
        summaries.append(
            {
                "symbol": _text(identifiers[0], source) if identifiers else "",
                "type": _text(type_node, source).strip("'") if type_node is not None else "",
                "existing": any(
                    child.type == "existing" or _text(child, source) == "existing" for child in declaration.children
                ),
                "has_parent": "parent" in properties,
                "properties": sorted(properties),
                "name": properties.get("name", ""),
                "line": declaration.start_point[0] + 1,
            }
        )
    return summaries


def parameter_summaries(root: Node, source: bytes) -> list[dict[str, Any]]:
    """Every ``param`` declaration: its name and whether it has a default value."""
    summaries = []
    for declaration in root.children:
        if declaration.type != "parameter_declaration":
            continue
        identifier = next(child for child in declaration.children if child.type == "identifier")
        has_default = any(_text(child, source) == "=" for child in declaration.children)
        summaries.append({"name": _text(identifier, source), "has_default": has_default})
    return summaries


def assignment_names(source: bytes, path: Path) -> list[str]:
    """Parameter names a .bicepparam file sets."""
    if path.suffix != ".bicepparam":
        return []
    return [match.group(2).split(b"=")[0].strip().decode() for match in PARAM_ASSIGNMENT.finditer(source)]


def check_files(paths: list[Path]) -> dict[str, Any]:
    """Parse every path; the report described in the module docstring."""
    parser = _parser()
    report: dict[str, Any] = {"files": {}}
    for path in paths:
        original = path.read_bytes()
        source = _as_bicep(original, path)
        tree = parser.parse(source)
        report["files"][str(path)] = {
            "errors": syntax_errors(tree.root_node, source),
            "resources": resource_summaries(tree.root_node, source),
            "parameters": parameter_summaries(tree.root_node, source),
            "assignments": assignment_names(original, path),
        }
    return report


def main(argv: list[str]) -> int:
    """Command-line entry point; returns the process exit code."""
    if not argv:
        print("usage: check_bicep_syntax.py FILE.bicep|FILE.bicepparam ...", file=sys.stderr)
        return 2
    missing = [arg for arg in argv if not Path(arg).is_file()]
    if missing:
        print(f"not a file: {', '.join(missing)}", file=sys.stderr)
        return 2
    report = check_files([Path(arg) for arg in argv])
    print(json.dumps(report, indent=1))
    return 1 if any(entry["errors"] for entry in report["files"].values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
