"""A stand-in Mobility agent installer for Linux: a real tar.gz whose ``install`` and
``UnifiedAgentConfigurator.sh`` record their arguments under ``$GUEST_ROOT/var/log/fake-asr/``.

Both refuse what the documented modernized ones would not take (MicrosoftDocs/azure-docs,
articles/site-recovery/vmware-physical-mobility-service-overview.md, "Install the Mobility service using command
prompt (Modernized)", Linux: ``install`` needs ``-r MS`` and ``-v VmWare``; ``-c`` chooses CSPrime (modernized)
or CSLegacy (classic, retired here); the configurator needs ``-S <configuration file>``, with ``-c``, ``-q`` and
``-D`` optional). The configurator also records the mode, path and SHA-256 of the configuration file (``-S``),
never its content, so tests can prove the secret file was 0600 and gone afterwards.
"""

from __future__ import annotations

import io
import tarfile

LOG_DIR = "var/log/fake-asr"

_INSTALL = r"""#!/usr/bin/env bash
set -euo pipefail
root="${GUEST_ROOT:-}"
log="${root}/var/log/fake-asr"
mkdir -p "$log" "${root}/usr/local/ASR/Vx/bin"
printf '%s\n' "$*" >>"${log}/install.args"
role="" platform="" cs_type=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -r) role="$2"; shift 2 ;;
    -v) platform="$2"; shift 2 ;;
    -c) cs_type="$2"; shift 2 ;;
    -d) shift 2 ;;
    -q) shift ;;
    *) echo "install: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $role == MS ]] || { echo "install: -r MS is mandatory (Mobility service)" >&2; exit 2; }
[[ $platform == VmWare ]] || { echo "install: -v VmWare is mandatory for physical servers" >&2; exit 2; }
[[ $cs_type == CSPrime ]] || { echo "install: -c must be CSPrime (the classic CSLegacy stack is retired)" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
cp "${here}/UnifiedAgentConfigurator.sh" "${root}/usr/local/ASR/Vx/bin/UnifiedAgentConfigurator.sh"
chmod 755 "${root}/usr/local/ASR/Vx/bin/UnifiedAgentConfigurator.sh"
exit "${FAKE_INSTALL_EXIT:-0}"
"""

_CONFIGURATOR = r"""#!/usr/bin/env bash
set -euo pipefail
log="${GUEST_ROOT:-}/var/log/fake-asr"
mkdir -p "$log"
printf '%s\n' "$*" >>"${log}/configurator.args"
secret="" cs_type="CSPrime"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -S) secret="$2"; shift 2 ;;
    -c) cs_type="$2"; shift 2 ;;
    -D) shift 2 ;;
    -q) shift ;;
    *) echo "UnifiedAgentConfigurator.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $cs_type == CSPrime ]] || { echo "UnifiedAgentConfigurator.sh: -c must be CSPrime" >&2; exit 2; }
[[ -n $secret ]] || { echo "UnifiedAgentConfigurator.sh: -S <configuration file> is mandatory" >&2; exit 2; }
[[ $secret == /* ]] || secret="$(pwd)/${secret}"
[[ -f $secret ]] || { echo "UnifiedAgentConfigurator.sh: no configuration file at ${secret}" >&2; exit 2; }
printf 'mode=%s path=%s sha256=%s\n' "$(stat -c '%a' "$secret")" "$secret" \
  "$(sha256sum "$secret" | cut -d' ' -f1)" >>"${log}/configurator.secret"
exit "${FAKE_CONFIGURATOR_EXIT:-0}"
"""


def _add(archive: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o755
    archive.addfile(info, io.BytesIO(data))


def fake_linux_installer() -> bytes:
    """The tar.gz bytes of the stand-in installer."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        _add(archive, "install", _INSTALL)
        _add(archive, "UnifiedAgentConfigurator.sh", _CONFIGURATOR)
    return buffer.getvalue()
