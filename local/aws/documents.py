"""SSM Command documents built from the guest-script manifests, for seeding the emulated AWS.

Infra has its own converter; this one builds the same shape: schemaVersion 2.2, one step running the script
with ``interpolationType: ENV_VAR``, so the parameters reach the script as ``SSM_<Name>`` environment
variables and are never spliced into shell text. The prelude mentions each parameter once so that SSM sets
its variable.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambdas.guest_scripts import ScriptManifest
from shared.facts import Platform


def ssm_document(manifest: ScriptManifest) -> dict[str, Any]:
    linux = manifest.platform is Platform.LINUX
    prelude = [f': "{{{{ {p.name} }}}}"' if linux else f'$null = "{{{{ {p.name} }}}}"' for p in manifest.parameters]
    parameters: dict[str, Any] = {}
    for p in manifest.parameters:
        spec: dict[str, Any] = {"type": p.type, "allowedPattern": p.allowed_pattern, "description": p.description}
        if p.default is not None:
            spec["default"] = p.default
        parameters[p.name] = spec
    return {
        "schemaVersion": "2.2",
        "description": manifest.description,
        "parameters": parameters,
        "mainSteps": [
            {
                "action": "aws:runShellScript" if linux else "aws:runPowerShellScript",
                "name": manifest.name.replace("-", "_"),
                "precondition": {"StringEquals": ["platformType", "Linux" if linux else "Windows"]},
                "inputs": {
                    "interpolationType": "ENV_VAR",
                    "timeoutSeconds": manifest.timeout_seconds,
                    "runCommand": [*prelude, *manifest.script_text().splitlines()],
                },
            }
        ],
    }


def ssm_document_json(manifest: ScriptManifest) -> str:
    return json.dumps(ssm_document(manifest))
