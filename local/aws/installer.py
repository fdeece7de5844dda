"""A stand-in Mobility agent installer for Linux: a real tar.gz whose ``install`` and
``UnifiedAgentConfigurator.sh`` record their arguments under ``$GUEST_ROOT/var/log/fake-asr/``.

The configurator also records the mode, path and SHA-256 of the secret file it was given (``-P`` or ``-S``),
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
secret=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -P|-S) secret="$2"; shift 2 ;;
    *) shift ;;
  esac
done
if [[ -n $secret ]]; then
  [[ $secret == /* ]] || secret="$(pwd)/${secret}"
  printf 'mode=%s path=%s sha256=%s\n' "$(stat -c '%a' "$secret")" "$secret" \
    "$(sha256sum "$secret" | cut -d' ' -f1)" >>"${log}/configurator.secret"
fi
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
