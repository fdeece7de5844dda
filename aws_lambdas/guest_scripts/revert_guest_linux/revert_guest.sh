#!/usr/bin/env bash
# revert-guest (Linux): undo what prepare-guest changed. Removes the marked discovery block from sshd_config
# (validated with `sshd -t` before it replaces the live file, then sshd is reloaded) and re-enables cloud-init
# if prepare-guest disabled it. Idempotent: with nothing to undo it changes nothing. Reads SSM_MigrationId;
# GUEST_ROOT (default empty) lets tests run against a scratch root. Last stdout line: a JSON object.
set -euo pipefail

SCRIPT_NAME=revert-guest
ROOT="${GUEST_ROOT:-}"
STATE_DIR="${ROOT}/var/lib/ec2-to-azure"
SSHD_CONFIG="${ROOT}/etc/ssh/sshd_config"
CLOUD_DISABLED="${ROOT}/etc/cloud/cloud-init.disabled"
BEGIN_MARK="# BEGIN ec2-to-azure discovery (removed by revert-guest)"
END_MARK="# END ec2-to-azure discovery"

# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

MIGRATION_ID="${SSM_MigrationId:-}"
[[ $MIGRATION_ID =~ ^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$ ]] || fail "MigrationId is missing or malformed"
# access: only what discovery opened (sshd), before cutover; cloud-init stays disabled for the migrated VM.
SCOPE="${SSM_Scope:-all}"
[[ $SCOPE == all || $SCOPE == access ]] || fail "Scope must be all or access"
changes=()

sshd_restored=false
matches_original=""
if [[ -f $SSHD_CONFIG ]] && grep -qxF "$BEGIN_MARK" "$SSHD_CONFIG"; then
  candidate=$(mktemp "${SSHD_CONFIG}.ec2-to-azure.XXXXXX")
  awk -v begin="$BEGIN_MARK" -v end="$END_MARK" '
    $0 == begin { skipping = 1; next }
    skipping && $0 == end { skipping = 0; next }
    !skipping { print }
  ' "$SSHD_CONFIG" >"$candidate"
  chmod "$(stat -c '%a' "$SSHD_CONFIG")" "$candidate"
  if ! validate_sshd_config "$candidate"; then
    rm -f -- "$candidate"
    fail "sshd rejected the restored configuration (or sshd is missing); ${SSHD_CONFIG} left unchanged" 3
  fi
  mv -f -- "$candidate" "$SSHD_CONFIG"
  reload_sshd
  sshd_restored=true
  changes+=("sshd_restored")
fi
if [[ -f "$STATE_DIR/sshd_config.orig" ]]; then
  if cmp -s "$STATE_DIR/sshd_config.orig" "$SSHD_CONFIG"; then matches_original=true; else matches_original=false; fi
  rm -f -- "$STATE_DIR/sshd_config.orig" "$STATE_DIR/sshd-original-values"
fi

cloud_init_restored=false
if [[ $SCOPE == all && -f "$STATE_DIR/cloud-init-disabled-by-us" ]]; then
  rm -f -- "$CLOUD_DISABLED" "$STATE_DIR/cloud-init-disabled-by-us"
  cloud_init_restored=true
  changes+=("cloud_init_enabled")
fi

changed_json=""
for change in "${changes[@]+"${changes[@]}"}"; do
  changed_json+="${changed_json:+,}$(json_str "$change")"
done
printf '{"script":"revert-guest-linux","migration_id":%s,"scope":%s,"sshd_restored":%s,"sshd_matches_original":%s,' \
  "$(json_str "$MIGRATION_ID")" "$(json_str "$SCOPE")" "$sshd_restored" "${matches_original:-null}"
printf '"cloud_init_restored":%s,"sshd_validation":%s,"sshd_reloaded":%s,"changed":[%s]}\n' \
  "$cloud_init_restored" "$(json_str "$SSHD_VALIDATION")" "$SSHD_RELOADED" "$changed_json"
