#!/usr/bin/env bash
# prepare-guest (Linux): collect OS facts and the machine's identity (SMBIOS UUID, host name, IPs, disks: what
# Azure Migrate's discovery reports, so the pipeline can find the discovered machine), disable cloud-init and,
# when discovery needs it, allow password and root login in sshd. The original sshd_config is saved once, the
# edit is one marked block at the top (sshd keeps the first value it reads, so the block wins over later lines
# and Include'd files), the candidate is validated with `sshd -t` before it replaces the live file, and sshd is
# reloaded. Idempotent: a second run changes nothing. Parameters come from SSM as environment variables
# (SSM_<Name>); GUEST_ROOT (default empty) lets tests run against a scratch root. The last line on stdout is a
# JSON object for command_status.
set -euo pipefail

SCRIPT_NAME=prepare-guest
ROOT="${GUEST_ROOT:-}"
STATE_DIR="${ROOT}/var/lib/ec2-to-azure"
SSHD_CONFIG="${ROOT}/etc/ssh/sshd_config"
CLOUD_DIR="${ROOT}/etc/cloud"
CLOUD_DISABLED="${CLOUD_DIR}/cloud-init.disabled"
BEGIN_MARK="# BEGIN ec2-to-azure discovery (removed by revert-guest)"
END_MARK="# END ec2-to-azure discovery"

# shellcheck source=SCRIPTDIR/../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

os_release_value() {
  local file="${ROOT}/etc/os-release"
  [[ -r $file ]] || file="${ROOT}/usr/lib/os-release"
  [[ -r $file ]] || return 0
  sed -n "s/^$1=//p" "$file" | head -n 1 | sed -e 's/^"//' -e 's/"$//' -e "s/^'//" -e "s/'\$//"
}

sshd_value() {
  # First uncommented occurrence of a keyword (sshd keeps the first value); empty when absent.
  [[ -r $SSHD_CONFIG ]] || return 0
  awk -v key="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
    /^[[:space:]]*#/ { next }
    tolower($1) == key { print $2; exit }
  ' "$SSHD_CONFIG"
}

# --- identity: what Azure Migrate's discovery reports for this machine --------------------------------------------
# Read from the kernel's own files (under ROOT, so tests run it against a scratch tree laid out the same way):
#   SMBIOS system UUID   /sys/class/dmi/id/product_uuid (root only; dmidecode -s system-uuid as a fallback)
#   host name            /proc/sys/kernel/hostname
#   IPv4 addresses       /proc/net/fib_trie ("/32 host LOCAL" entries, loopback left out)
#   disks                /sys/block/<disk>/size (512-byte sectors), /sys/block/<disk>/device/serial (NVMe: the
#                        EBS volume id without its hyphen), the OS disk = the disk under the "/" mount of
#                        /proc/self/mountinfo (its major:minor resolved through /sys/dev/block, partitions and
#                        device-mapper slaves followed to the disk).
# Nothing here changes the guest.
read_first_line() {
  [[ -r $1 ]] || return 0
  head -n 1 "$1" | tr -d '\000' | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
}

bios_uuid() {
  local uuid
  uuid=$(read_first_line "${ROOT}/sys/class/dmi/id/product_uuid")
  if [[ -z $uuid && -z $ROOT ]] && command -v dmidecode >/dev/null 2>&1; then
    uuid=$(dmidecode -s system-uuid 2>/dev/null | head -n 1 || true)
  fi
  printf '%s' "$uuid" | tr '[:upper:]' '[:lower:]'
}

ipv4_addresses() {
  [[ -r ${ROOT}/proc/net/fib_trie ]] || return 0
  awk '/\|--/ { ip = $2 } /\/32 host LOCAL/ { if (ip !~ /^127\./) print ip }' "${ROOT}/proc/net/fib_trie" | sort -u
}

disk_of() {
  # The disk (name under /sys/block) that holds block device major:minor $1; empty when unknown.
  local node="${ROOT}/sys/dev/block/$1" path slave
  [[ -e $node ]] || return 0
  path=$(cd -P -- "$node" && pwd) || return 0
  if [[ -d $path/slaves ]]; then
    for slave in "$path"/slaves/*; do
      [[ -e $slave ]] || continue
      path=$(cd -P -- "$slave" && pwd) || return 0
      break
    done
  fi
  [[ -f $path/partition ]] && path=$(dirname -- "$path")
  basename -- "$path"
}

os_disk() {
  [[ -r ${ROOT}/proc/self/mountinfo ]] || return 0
  local majmin
  majmin=$(awk '$5 == "/" { print $3; exit }' "${ROOT}/proc/self/mountinfo")
  [[ -n $majmin ]] && disk_of "$majmin"
}

identity_json() {
  local root_disk ips="" disks="" ip dir name sectors serial is_os
  root_disk=$(os_disk)
  while IFS= read -r ip; do
    [[ -n $ip ]] && ips+="${ips:+,}$(json_str "$ip")"
  done < <(ipv4_addresses)
  for dir in "${ROOT}"/sys/block/*; do
    [[ -e $dir/size ]] || continue
    name=$(basename -- "$dir")
    [[ $name =~ ^(loop|ram|zram|dm-|md|sr|fd|nbd) ]] && continue
    sectors=$(read_first_line "$dir/size")
    [[ $sectors =~ ^[0-9]+$ && $sectors -gt 0 ]] || continue
    serial=$(read_first_line "$dir/device/serial")
    is_os=false
    [[ $name == "$root_disk" ]] && is_os=true
    disks+="${disks:+,}{\"device\":$(json_str "/dev/${name}"),\"serial\":$(json_str "$serial"),"
    disks+="\"size_bytes\":$((sectors * 512)),\"is_os_disk\":${is_os}}"
  done
  printf '{"bios_id":%s,"hostname":%s,"ip_addresses":[%s],"disks":[%s]}' \
    "$(json_str "$(bios_uuid)")" "$(json_str "$(read_first_line "${ROOT}/proc/sys/kernel/hostname")")" \
    "$ips" "$disks"
}

DISCOVERY="${SSM_Discovery:-false}"
MIGRATION_ID="${SSM_MigrationId:-}"
[[ $DISCOVERY =~ ^(true|false)$ ]] || fail "Discovery must be true or false"
[[ $MIGRATION_ID =~ ^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$ ]] || fail "MigrationId is missing or malformed"

umask 022
mkdir -p "$STATE_DIR"
chmod 700 "$STATE_DIR"
changes=()

# --- OS facts -----------------------------------------------------------------------------------------------
os_id=$(os_release_value ID)
os_name=$(os_release_value NAME)
os_version=$(os_release_value VERSION_ID)
pretty_name=$(os_release_value PRETTY_NAME)
kernel=$(uname -r)
uname_all=$(uname -a)
hostnamectl_os=""
if [[ -z $ROOT ]] && command -v hostnamectl >/dev/null 2>&1; then
  hostnamectl_os=$(hostnamectl 2>/dev/null | sed -n 's/^[[:space:]]*Operating System:[[:space:]]*//p' | head -n 1 || true)
fi

# --- cloud-init ---------------------------------------------------------------------------------------------
cloud_init=false
cloud_init_disabled=false
if [[ -d $CLOUD_DIR ]]; then
  cloud_init=true
  if [[ ! -e $CLOUD_DISABLED ]]; then
    : >"$CLOUD_DISABLED"
    printf '%s\n' "$MIGRATION_ID" >"$STATE_DIR/cloud-init-disabled-by-us"
    changes+=("cloud_init_disabled")
  fi
  cloud_init_disabled=true
fi

# --- sshd for discovery ---------------------------------------------------------------------------------------
original_password_auth=$(sshd_value PasswordAuthentication)
original_permit_root=$(sshd_value PermitRootLogin)
if [[ -f "$STATE_DIR/sshd-original-values" ]]; then
  original_password_auth=$(sed -n 's/^PasswordAuthentication=//p' "$STATE_DIR/sshd-original-values")
  original_permit_root=$(sed -n 's/^PermitRootLogin=//p' "$STATE_DIR/sshd-original-values")
fi
discovery_enabled=false
if [[ $DISCOVERY == true ]]; then
  [[ -f $SSHD_CONFIG ]] || fail "discovery needs sshd but ${SSHD_CONFIG} does not exist"
  if grep -qxF "$BEGIN_MARK" "$SSHD_CONFIG"; then
    discovery_enabled=true
  else
    [[ -e "$STATE_DIR/sshd_config.orig" ]] || cp -p "$SSHD_CONFIG" "$STATE_DIR/sshd_config.orig"
    printf 'PasswordAuthentication=%s\nPermitRootLogin=%s\n' "$original_password_auth" "$original_permit_root" \
      >"$STATE_DIR/sshd-original-values"
    candidate=$(mktemp "${SSHD_CONFIG}.ec2-to-azure.XXXXXX")
    {
      printf '%s\n' "$BEGIN_MARK" "PasswordAuthentication yes" "PermitRootLogin yes" "$END_MARK"
      cat "$SSHD_CONFIG"
    } >"$candidate"
    chmod "$(stat -c '%a' "$SSHD_CONFIG")" "$candidate"
    if ! validate_sshd_config "$candidate"; then
      rm -f -- "$candidate"
      fail "sshd rejected the prepared configuration (or sshd is missing); ${SSHD_CONFIG} left unchanged" 3
    fi
    mv -f -- "$candidate" "$SSHD_CONFIG"
    reload_sshd
    discovery_enabled=true
    changes+=("sshd_discovery_enabled")
  fi
fi

changed_json=""
for change in "${changes[@]+"${changes[@]}"}"; do
  changed_json+="${changed_json:+,}$(json_str "$change")"
done
printf '{"script":"prepare-guest-linux","migration_id":%s,"os_id":%s,"os_name":%s,"os_version":%s,' \
  "$(json_str "$MIGRATION_ID")" "$(json_str "$os_id")" "$(json_str "$os_name")" "$(json_str "$os_version")"
printf '"pretty_name":%s,"kernel":%s,"uname":%s,"hostnamectl_os":%s,' \
  "$(json_str "$pretty_name")" "$(json_str "$kernel")" "$(json_str "$uname_all")" "$(json_str "$hostnamectl_os")"
printf '"cloud_init":%s,"cloud_init_disabled":%s,"discovery_enabled":%s,' \
  "$cloud_init" "$cloud_init_disabled" "$discovery_enabled"
printf '"sshd_original":{"PasswordAuthentication":%s,"PermitRootLogin":%s},' \
  "$(json_str "$original_password_auth")" "$(json_str "$original_permit_root")"
printf '"sshd_validation":%s,"sshd_reloaded":%s,"changed":[%s],"identity":%s}\n' \
  "$(json_str "$SSHD_VALIDATION")" "$SSHD_RELOADED" "$changed_json" "$(identity_json)"
