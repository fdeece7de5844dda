#!/usr/bin/env bash
# install-agent (Linux): stage the Mobility agent installer from S3, install it and register it with the
# replication appliance.
#   classic (InMageAzureV2): ./install -r MS -q -v VmWare -c CSLegacy
#                            UnifiedAgentConfigurator.sh -i <appliance IP> -P <passphrase file>
#   modernized (InMageRcm):  ./install -q -r MS -v VmWare -c CSPrime
#                            UnifiedAgentConfigurator.sh -c CSPrime -S config.json -q
# The passphrase / configuration file is fetched HERE from Secrets Manager (SSM_SecretId names it; the value
# never travels in the command) into a 0600 file in a private temp dir that is removed on exit. An agent
# already installed and registered with the same provider and appliance is left alone. Idempotent.
# GUEST_ROOT (default empty) lets tests run against a scratch root. Last stdout line: a JSON object.
set -euo pipefail

SCRIPT_NAME=install-agent
ROOT="${GUEST_ROOT:-}"
STATE_DIR="${ROOT}/var/lib/ec2-to-azure"
INSTALL_DIR="${ROOT}/usr/local/ASR"
CONFIGURATOR="${INSTALL_DIR}/Vx/bin/UnifiedAgentConfigurator.sh"
REGISTRATION="${STATE_DIR}/agent-registration"

# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

result() {
  printf '{"script":"install-agent-linux","provider":%s,"status":%s,"installed_now":%s,"registered_now":%s}\n' \
    "$(json_str "$PROVIDER")" "$(json_str "$1")" "$2" "$3"
}

PROVIDER="${SSM_Provider:-InMageRcm}"
APPLIANCE_IP="${SSM_ApplianceIp:-}"
BUCKET="${SSM_InstallerBucket:-}"
KEY="${SSM_InstallerKey:-}"
SECRET_ID="${SSM_SecretId:-}"
REGION="${SSM_Region:-}"
octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
[[ $PROVIDER =~ ^(InMageRcm|InMageAzureV2)$ ]] || fail "Provider must be InMageRcm or InMageAzureV2"
[[ $APPLIANCE_IP =~ ^(${octet}\.){3}${octet}$ || -z $APPLIANCE_IP ]] || fail "ApplianceIp is not an IPv4 address"
[[ $PROVIDER == InMageRcm || -n $APPLIANCE_IP ]] || fail "ApplianceIp is required for InMageAzureV2"
[[ $BUCKET =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || fail "InstallerBucket is missing or malformed"
[[ $KEY =~ ^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$ ]] || fail "InstallerKey is missing or malformed"
[[ $SECRET_ID =~ ^[A-Za-z0-9/_+=.@:-]{1,2048}$ ]] || fail "SecretId is missing or malformed"
[[ $REGION =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || fail "Region is missing or malformed"
command -v aws >/dev/null 2>&1 || fail "the aws CLI is not installed on this instance"

if [[ $PROVIDER == InMageAzureV2 ]]; then
  expected_registration="provider=${PROVIDER} appliance=${APPLIANCE_IP}"
else
  expected_registration="provider=${PROVIDER}"
fi
if [[ -x $CONFIGURATOR && -f $REGISTRATION && "$(cat "$REGISTRATION")" == "$expected_registration" ]]; then
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
  if [[ $PROVIDER == InMageAzureV2 ]]; then
    (cd "${work}/installer" && ./install -r MS -q -v VmWare -c CSLegacy) >&2
  else
    (cd "${work}/installer" && ./install -q -r MS -v VmWare -c CSPrime) >&2
  fi
  [[ -x $CONFIGURATOR ]] || fail "the installer finished but ${CONFIGURATOR} is missing" 4
  installed_now=true
fi

if [[ $PROVIDER == InMageAzureV2 ]]; then
  secret_file="${work}/passphrase.txt"
else
  secret_file="${work}/config.json"
fi
: >"$secret_file"
chmod 600 "$secret_file"
secret=$(aws secretsmanager get-secret-value --secret-id "$SECRET_ID" --region "$REGION" \
  --query SecretString --output text) || fail "could not read the registration secret ${SECRET_ID}"
printf '%s' "$secret" >"$secret_file"
unset secret

if [[ $PROVIDER == InMageAzureV2 ]]; then
  "$CONFIGURATOR" -i "$APPLIANCE_IP" -P "$secret_file" >&2 || {
    rm -f -- "$secret_file"
    fail "registration with the configuration server ${APPLIANCE_IP} failed" 5
  }
else
  (cd "$work" && "$CONFIGURATOR" -c CSPrime -S config.json -q) >&2 || {
    rm -f -- "$secret_file"
    fail "registration with the replication appliance failed" 5
  }
fi
rm -f -- "$secret_file"

mkdir -p "$STATE_DIR"
chmod 700 "$STATE_DIR"
printf '%s' "$expected_registration" >"$REGISTRATION"
result "registered" "$installed_now" true
