#!/usr/bin/env bash
# install-agent (Linux): stage the Mobility agent installer from S3, install it and register it with the
# modernized replication appliance (provider InMageRcm; the classic InMageAzureV2 stack is retired). Commands
# as Microsoft documents them ("About the Mobility service for VMware VMs and physical servers", section
# "Install the Mobility service using command prompt (Modernized)", MicrosoftDocs/azure-docs
# articles/site-recovery/vmware-physical-mobility-service-overview.md):
#   ./install -q -r MS -v VmWare -c CSPrime                    (-r, -v mandatory; default dir /usr/local/ASR)
#   <install dir>/Vx/bin/UnifiedAgentConfigurator.sh -c CSPrime -S config.json -q   (-S mandatory)
# The Mobility service configuration file is fetched HERE from Secrets Manager (SSM_SecretId names it; the
# value never travels in the command) into a 0600 file in a private temp dir that is removed on exit. An agent
# already installed and registered is left alone. Idempotent.
# GUEST_ROOT (default empty) lets tests run against a scratch root. Last stdout line: a JSON object.
set -euo pipefail

SCRIPT_NAME=install-agent
ROOT="${GUEST_ROOT:-}"
STATE_DIR="${ROOT}/var/lib/ec2-to-azure"
INSTALL_DIR="${ROOT}/usr/local/ASR"
CONFIGURATOR="${INSTALL_DIR}/Vx/bin/UnifiedAgentConfigurator.sh"
REGISTRATION="${STATE_DIR}/agent-registration"
EXPECTED_REGISTRATION="provider=InMageRcm"  # the marker earlier versions wrote too: no re-registration

# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

result() {
  printf '{"script":"install-agent-linux","cs_type":"CSPrime","status":%s,"installed_now":%s,"registered_now":%s}\n' \
    "$(json_str "$1")" "$2" "$3"
}

BUCKET="${SSM_InstallerBucket:-}"
KEY="${SSM_InstallerKey:-}"
SECRET_ID="${SSM_SecretId:-}"
REGION="${SSM_Region:-}"
[[ $BUCKET =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || fail "InstallerBucket is missing or malformed"
[[ $KEY =~ ^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$ ]] || fail "InstallerKey is missing or malformed"
[[ $SECRET_ID =~ ^[A-Za-z0-9/_+=.@:-]{1,2048}$ ]] || fail "SecretId is missing or malformed"
[[ $REGION =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || fail "Region is missing or malformed"
command -v aws >/dev/null 2>&1 || fail "the aws CLI is not installed on this instance"

if [[ -x $CONFIGURATOR && -f $REGISTRATION && "$(cat "$REGISTRATION")" == "$EXPECTED_REGISTRATION" ]]; then
  result "already_registered" false false
  exit 0
fi

umask 077
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
chmod 700 "$work"

installed_now=false
if [[ ! -x $CONFIGURATOR ]]; then
  aws s3 cp "s3://${BUCKET}/${KEY}" "${work}/installer.tar.gz" --region "$REGION" --only-show-errors >&2
  mkdir "${work}/installer"
  tar -xzf "${work}/installer.tar.gz" -C "${work}/installer"
  [[ -x "${work}/installer/install" ]] || fail "the installer archive has no executable ./install"
  (cd "${work}/installer" && ./install -q -r MS -v VmWare -c CSPrime) >&2
  [[ -x $CONFIGURATOR ]] || fail "the installer finished but ${CONFIGURATOR} is missing" 4
  installed_now=true
fi

secret_file="${work}/config.json"
: >"$secret_file"
chmod 600 "$secret_file"
secret=$(aws secretsmanager get-secret-value --secret-id "$SECRET_ID" --region "$REGION" \
  --query SecretString --output text) || fail "could not read the registration secret ${SECRET_ID}"
printf '%s' "$secret" >"$secret_file"
unset secret

(cd "$work" && "$CONFIGURATOR" -c CSPrime -S config.json -q) >&2 || {
  rm -f -- "$secret_file"
  fail "registration with the replication appliance failed" 5
}
rm -f -- "$secret_file"

mkdir -p "$STATE_DIR"
chmod 700 "$STATE_DIR"
printf '%s' "$EXPECTED_REGISTRATION" >"$REGISTRATION"
result "registered" "$installed_now" true
