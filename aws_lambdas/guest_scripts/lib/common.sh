# shellcheck shell=bash
# Shared helpers of the Linux guest scripts. A script sets SCRIPT_NAME and ROOT, then sources this file; when the
# SSM documents are built, this text replaces the `source` line, so each document stays self-contained.

fail() {
  printf '%s: %s\n' "$SCRIPT_NAME" "$1" >&2
  exit "${2:-2}"
}

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

sshd_binary() {
  if [[ -n ${SSHD_BIN:-} ]]; then
    printf '%s' "$SSHD_BIN"
  elif command -v sshd >/dev/null 2>&1; then
    command -v sshd
  elif [[ -x /usr/sbin/sshd ]]; then
    printf '/usr/sbin/sshd'
  fi
}

# shellcheck disable=SC2034 # read by the scripts that source this file
SSHD_VALIDATION="not_needed"
validate_sshd_config() {
  local bin
  bin=$(sshd_binary)
  if [[ -z $bin ]]; then
    [[ -n $ROOT ]] || return 1
    SSHD_VALIDATION="skipped_no_sshd"
    return 0
  fi
  if "$bin" -t -f "$1" >&2; then
    SSHD_VALIDATION="passed"
    return 0
  fi
  # shellcheck disable=SC2034
  SSHD_VALIDATION="failed"
  return 1
}

# shellcheck disable=SC2034
SSHD_RELOADED=false
reload_sshd() {
  [[ -z $ROOT ]] || return 0
  if command -v systemctl >/dev/null 2>&1; then
    systemctl reload sshd 2>/dev/null || systemctl reload ssh
  else
    service sshd reload 2>/dev/null || service ssh reload
  fi
  # shellcheck disable=SC2034
  SSHD_RELOADED=true
}
