"""The Linux guest scripts, run for real (bash) against a scratch root, and the manifests' format."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from aws_lambdas.guest_scripts import SCRIPTS_DIR, load_manifests
from local.aws.installer import fake_linux_installer

REPO = Path(__file__).resolve().parents[2]
SSHD_CONFIG = (
    "Include /etc/ssh/sshd_config.d/*.conf\n"
    "#PasswordAuthentication yes\n"
    "PermitRootLogin prohibit-password\n"
    "PasswordAuthentication no\n"
    "UsePAM yes\n"
    "Match User backup\n"
    "    PasswordAuthentication no\n"
)
SECRET = "s3cr3t-Passphrase-9f2c"  # what the fake Secrets Manager returns

FAKE_AWS = r"""#!/usr/bin/env bash
set -euo pipefail
printf '%s\n' "$*" >>"${FAKE_AWS_DIR}/calls"
case "$1 $2" in
  "s3 cp") cp "${FAKE_AWS_DIR}/installer.tar.gz" "$4" ;;
  "secretsmanager get-secret-value") cat "${FAKE_AWS_DIR}/secret"; printf '\n' ;;
  *) echo "unexpected aws call: $*" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def guest(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True)
    (root / "etc/ssh/sshd_config").write_text(SSHD_CONFIG)
    (root / "etc/ssh/sshd_config").chmod(0o644)
    (root / "etc/cloud/cloud.cfg.d").mkdir(parents=True)
    (root / "etc/os-release").write_text(
        'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n'
    )
    (root / "tmp").mkdir()
    fake = tmp_path / "fake-aws"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin/aws").write_text(FAKE_AWS)
    (fake / "bin/aws").chmod(0o755)
    (fake / "installer.tar.gz").write_bytes(fake_linux_installer())
    (fake / "secret").write_text(SECRET)
    return root


def run(script: str, root: Path, **params: str) -> subprocess.CompletedProcess[str]:
    fake = root.parent / "fake-aws"
    env = {
        "PATH": f"{fake / 'bin'}:/usr/bin:/bin",
        "GUEST_ROOT": str(root),
        "TMPDIR": str(root / "tmp"),
        "FAKE_AWS_DIR": str(fake),
        "LANG": "C.UTF-8",
        **{k: v for k, v in params.items() if not k.startswith("SSM_")},
        **{k: v for k, v in params.items() if k.startswith("SSM_")},
    }
    path = SCRIPTS_DIR / script
    return subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True, timeout=60, check=False)


def last_json(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


PREPARE = "prepare_guest_linux/prepare_guest.sh"
REVERT = "revert_guest_linux/revert_guest.sh"
INSTALL = "install_agent_linux/install_agent.sh"


def test_prepare_guest_enables_discovery_safely_and_is_idempotent(guest: Path) -> None:
    result = last_json(run(PREPARE, guest, SSM_Discovery="true", SSM_MigrationId="vm-w1-i-1"))
    config = (guest / "etc/ssh/sshd_config").read_text()
    assert config.splitlines()[:4] == [
        "# BEGIN ec2-to-azure discovery (removed by revert-guest)",
        "PasswordAuthentication yes",
        "PermitRootLogin yes",
        "# END ec2-to-azure discovery",
    ]
    assert config.endswith(SSHD_CONFIG)  # everything else untouched, Match block last
    assert stat.S_IMODE((guest / "etc/ssh/sshd_config").stat().st_mode) == 0o644
    assert (guest / "var/lib/ec2-to-azure/sshd_config.orig").read_text() == SSHD_CONFIG
    assert (guest / "etc/cloud/cloud-init.disabled").exists()
    assert result["os_id"] == "ubuntu" and result["os_version"] == "22.04" and result["uname"]
    assert result["sshd_original"] == {"PasswordAuthentication": "no", "PermitRootLogin": "prohibit-password"}
    assert result["cloud_init"] is True and result["discovery_enabled"] is True
    assert sorted(result["changed"]) == ["cloud_init_disabled", "sshd_discovery_enabled"]
    assert not list((guest / "etc/ssh").glob("sshd_config.ec2-to-azure.*"))

    before = snapshot(guest)
    again = last_json(run(PREPARE, guest, SSM_Discovery="true", SSM_MigrationId="vm-w1-i-1"))
    assert snapshot(guest) == before
    assert again["changed"] == [] and again["sshd_original"] == result["sshd_original"]


@pytest.mark.skipif(shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(), reason="no sshd here")
def test_prepared_sshd_config_passes_sshd_t(guest: Path, tmp_path: Path) -> None:
    last_json(run(PREPARE, guest, SSM_Discovery="true", SSM_MigrationId="vm-w1-i-1"))
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    config = tmp_path / "check_config"
    config.write_text(
        (guest / "etc/ssh/sshd_config").read_text().replace("Include /etc/ssh/sshd_config.d/*.conf\n", "")
    )
    subprocess.run([sshd, "-t", "-f", str(config)], check=True, capture_output=True)


def test_prepare_guest_never_leaves_an_invalid_sshd_config(guest: Path, tmp_path: Path) -> None:
    rejecting = tmp_path / "sshd"
    rejecting.write_text("#!/usr/bin/env bash\necho 'line 2: Bad configuration option' >&2\nexit 255\n")
    rejecting.chmod(0o755)
    done = run(PREPARE, guest, SSM_Discovery="true", SSM_MigrationId="vm-w1-i-1", SSHD_BIN=str(rejecting))
    assert done.returncode == 3 and "left unchanged" in done.stderr
    assert (guest / "etc/ssh/sshd_config").read_text() == SSHD_CONFIG
    assert not list((guest / "etc/ssh").glob("sshd_config.ec2-to-azure.*"))


def test_prepare_guest_without_discovery_leaves_sshd_alone(guest: Path) -> None:
    result = last_json(run(PREPARE, guest, SSM_MigrationId="vm-w1-i-1"))
    assert (guest / "etc/ssh/sshd_config").read_text() == SSHD_CONFIG
    assert result["changed"] == ["cloud_init_disabled"] and result["discovery_enabled"] is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"SSM_Discovery": "true; touch /tmp/pwned", "SSM_MigrationId": "m-1"}, "Discovery"),
        ({"SSM_Discovery": "true", "SSM_MigrationId": "$(reboot)"}, "MigrationId"),
        ({"SSM_Discovery": "true"}, "MigrationId"),
    ],
)
def test_prepare_guest_validates_its_parameters_again(guest: Path, params: dict[str, str], message: str) -> None:
    before = snapshot(guest)
    done = run(PREPARE, guest, **params)
    assert done.returncode == 2 and message in done.stderr
    assert snapshot(guest) == before


def test_revert_guest_restores_exactly_what_prepare_changed(guest: Path) -> None:
    original = snapshot(guest)
    last_json(run(PREPARE, guest, SSM_Discovery="true", SSM_MigrationId="vm-w1-i-1"))
    result = last_json(run(REVERT, guest, SSM_MigrationId="vm-w1-i-1"))
    assert (guest / "etc/ssh/sshd_config").read_text() == SSHD_CONFIG
    assert result["sshd_restored"] is True and result["sshd_matches_original"] is True
    assert result["cloud_init_restored"] is True and not (guest / "etc/cloud/cloud-init.disabled").exists()
    after = {k: v for k, v in snapshot(guest).items() if not k.startswith("var")}
    assert after == original

    before = snapshot(guest)
    again = last_json(run(REVERT, guest, SSM_MigrationId="vm-w1-i-1"))
    assert again["changed"] == [] and snapshot(guest) == before


def test_revert_keeps_a_cloud_init_disable_that_was_there_before(guest: Path) -> None:
    (guest / "etc/cloud/cloud-init.disabled").write_text("")
    prepared = last_json(run(PREPARE, guest, SSM_MigrationId="vm-w1-i-1"))
    assert prepared["changed"] == []
    reverted = last_json(run(REVERT, guest, SSM_MigrationId="vm-w1-i-1"))
    assert reverted["cloud_init_restored"] is False and (guest / "etc/cloud/cloud-init.disabled").exists()


INSTALL_PARAMS = {
    "SSM_InstallerBucket": "ec2-to-azure-installers",
    "SSM_SecretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ec2-to-azure/agent-config-AbCdEf",
    "SSM_Region": "eu-west-1",
}


# The modernized commands as Microsoft documents them (MicrosoftDocs/azure-docs,
# articles/site-recovery/vmware-physical-mobility-service-overview.md, "Install the Mobility service using
# command prompt (Modernized)", Linux machine): install, then register with the configuration file.
MODERNIZED_INSTALL_ARGS = "-q -r MS -v VmWare -c CSPrime"
MODERNIZED_CONFIGURATOR_ARGS = "-c CSPrime -S config.json -q"


def test_install_agent_installs_and_registers_with_the_modernized_appliance(guest: Path) -> None:
    params = {**INSTALL_PARAMS, "SSM_InstallerKey": "mobility-agent/InMageRcm/linux/installer.tar.gz"}
    done = run(INSTALL, guest, **params)
    result = last_json(done)
    assert result == {
        "script": "install-agent-linux",
        "cs_type": "CSPrime",
        "status": "registered",
        "installed_now": True,
        "registered_now": True,
    }
    logs = guest / "var/log/fake-asr"
    assert (logs / "install.args").read_text().splitlines() == [MODERNIZED_INSTALL_ARGS]
    secret_line = (logs / "configurator.secret").read_text().split()
    mode, path, digest = (field.split("=", 1)[1] for field in secret_line)
    assert mode == "600"
    assert Path(path).name == "config.json" and not Path(path).exists()
    assert digest == hashlib.sha256(SECRET.encode()).hexdigest()  # the secret, without a trailing newline
    assert (logs / "configurator.args").read_text().splitlines() == [MODERNIZED_CONFIGURATOR_ARGS]
    assert list((guest / "tmp").iterdir()) == []  # the private work dir is gone
    calls = (guest.parent / "fake-aws/calls").read_text()
    assert "s3://ec2-to-azure-installers/mobility-agent/InMageRcm/linux/installer.tar.gz" in calls
    assert SECRET not in done.stdout + done.stderr + calls

    again = last_json(run(INSTALL, guest, **params))
    assert again["status"] == "already_registered"
    assert len((logs / "install.args").read_text().splitlines()) == 1
    assert len((logs / "configurator.args").read_text().splitlines()) == 1


def test_install_agent_has_no_classic_path_left() -> None:
    text = (SCRIPTS_DIR / INSTALL).read_text() + (SCRIPTS_DIR / "install_agent_windows/install_agent.ps1").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for classic in ("CSLegacy", "InMageAzureV2", "Passphrase", "passphrase", "CSEndPoint", "ApplianceIp", " -P "):
        assert classic not in code


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("./install -q -r MS -v VmWare -c CSPrime", "install: -c must be CSPrime"),
        ("-c CSPrime -S config.json -q)", "UnifiedAgentConfigurator.sh: unknown option -i"),
    ],
)
def test_the_stand_in_installer_refuses_what_the_documented_one_refuses(
    guest: Path, tmp_path: Path, broken: str, message: str
) -> None:
    """Planted defect: a script that calls the installer or configurator the classic way fails against the fake."""
    copy = tmp_path / "scripts"
    shutil.copytree(SCRIPTS_DIR, copy)
    script = copy / INSTALL
    text = script.read_text()
    assert broken in text
    classic = {
        "./install -q -r MS -v VmWare -c CSPrime": "./install -r MS -q -v VmWare -c CSLegacy",
        "-c CSPrime -S config.json -q)": "-i 10.0.1.4 -P config.json)",
    }[broken]
    script.write_text(text.replace(broken, classic))
    fake = tmp_path / "fake-aws"
    env = {
        "PATH": f"{fake / 'bin'}:/usr/bin:/bin",
        "GUEST_ROOT": str(guest),
        "TMPDIR": str(guest / "tmp"),
        "FAKE_AWS_DIR": str(fake),
        "LANG": "C.UTF-8",
        **INSTALL_PARAMS,
        "SSM_InstallerKey": "k/installer.tar.gz",
    }
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0 and message in done.stderr


def test_install_agent_removes_the_secret_when_registration_fails(guest: Path) -> None:
    params = {
        **INSTALL_PARAMS,
        "SSM_InstallerKey": "k/installer.tar.gz",
        "FAKE_CONFIGURATOR_EXIT": "1",
    }
    done = run(INSTALL, guest, **params)
    assert done.returncode == 5 and "registration" in done.stderr
    assert list((guest / "tmp").iterdir()) == []
    assert not (guest / "var/lib/ec2-to-azure/agent-registration").exists()
    assert SECRET not in done.stdout + done.stderr


def test_linux_scripts_are_shellcheck_clean() -> None:
    shellcheck = REPO / ".venv/bin/shellcheck"
    scripts = sorted(str(p) for p in SCRIPTS_DIR.glob("*/*.sh"))
    assert len(scripts) == 4  # three scripts and lib/common.sh
    done = subprocess.run([str(shellcheck), "-x", *scripts], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_manifests_follow_the_shared_format() -> None:
    manifests = load_manifests()
    assert set(manifests) == {
        f"{script}-{platform}"
        for script in ("prepare-guest", "install-agent", "revert-guest")
        for platform in ("linux", "windows")
    }
    for path in SCRIPTS_DIR.glob("*/manifest.yaml"):
        raw = yaml.safe_load(path.read_text())
        assert list(raw) == ["name", "platform", "script", "description", "timeout_seconds", "parameters"]
        for parameter in raw["parameters"]:
            assert set(parameter) <= {"name", "type", "allowed_pattern", "default", "description"}
        manifest = manifests[raw["name"]]
        text = manifest.script_text()
        for parameter in manifest.parameters:
            variable = f"$env:SSM_{parameter.name}" if manifest.script.endswith(".ps1") else f"SSM_{parameter.name}"
            assert variable in text, f"{manifest.name} never reads {variable}"
        if manifest.script.endswith(".sh"):
            assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
            assert os.access(manifest.script_path, os.X_OK)
        else:
            assert "$ErrorActionPreference = 'Stop'" in text
