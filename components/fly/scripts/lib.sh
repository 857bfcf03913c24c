#!/usr/bin/env bash
# Shared by the Fly command scripts (sourced, never run). Every value arrives in an environment
# variable set by pulumi-command; nothing here is built from text that could carry shell code.
# Secrets are never echoed, never put on a command line and `set -x` is never used.

FLY_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() {
  printf 'fly: %s\n' "$*" >&2
}

fail() {
  printf 'fly: error: %s\n' "$*" >&2
  exit 1
}

# require_vars NAME... : each variable must be set and non-empty.
require_vars() {
  local name
  for name in "$@"; do
    [ -n "${!name:-}" ] || fail "internal: environment variable $name is not set by the component"
  done
}

# Checks that need no network, so a missing tool or token stops `pulumi up` before any change.
preflight() {
  command -v flyctl >/dev/null 2>&1 \
    || fail "flyctl was not found on PATH; install it (https://fly.io/docs/flyctl/install/) and run pulumi up again"
  command -v python3 >/dev/null 2>&1 \
    || fail "python3 was not found on PATH; the Fly scripts use it to read flyctl's JSON output"
  [ -n "${FLY_API_TOKEN:-}" ] \
    || fail "FLY_API_TOKEN is not set; export FLY_API_TOKEN before pulumi up, or store it with: pulumi config set --secret flyApiToken"
  require_vars FLY_APP
  # Defence in depth: the config already rejects these, and values are always quoted anyway.
  [[ "$FLY_APP" =~ ^[a-z][a-z0-9-]{1,61}[a-z0-9]$ ]] \
    || fail "app name '$FLY_APP' is not a valid Fly app name"
}

flyjson() {
  python3 "$FLY_LIB_DIR/../flyjson.py" "$@"
}

# app_org: prints the org of $FLY_APP and returns 0, or returns 3 if the app does not exist.
app_org() {
  local apps
  apps=$(flyctl apps list --json) || fail "flyctl apps list failed (its error is above)"
  printf '%s' "$apps" | flyjson app-org "$FLY_APP"
}

# wait_healthy: polls `flyctl status --json` with exponential backoff (1 s doubling to 16 s)
# until every machine is started with passing checks, or fails after FLY_HEALTH_TIMEOUT_SECONDS.
wait_healthy() {
  require_vars FLY_HEALTH_TIMEOUT_SECONDS
  local deadline delay=1 status reason now pause
  deadline=$((SECONDS + FLY_HEALTH_TIMEOUT_SECONDS))
  while :; do
    if status=$(flyctl status --app "$FLY_APP" --json); then
      if reason=$(printf '%s' "$status" | flyjson health); then
        log "health checks of app $FLY_APP are passing"
        return 0
      fi
    else
      reason="flyctl status failed"
    fi
    now=$SECONDS
    if ((now >= deadline)); then
      fail "health checks of app $FLY_APP did not pass within ${FLY_HEALTH_TIMEOUT_SECONDS} s: ${reason}"
    fi
    pause=$((deadline - now < delay ? deadline - now : delay))
    log "waiting ${pause} s for health checks of app $FLY_APP (${reason})"
    sleep "$pause"
    delay=$((delay * 2 > 16 ? 16 : delay * 2))
  done
}
