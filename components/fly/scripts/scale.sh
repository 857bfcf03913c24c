#!/usr/bin/env bash
# The running flag: 0 machines stops the sandbox (the seed's stop), 1 starts it again from the
# last deployed release. Neither redeploys. Prints the app's machine count afterwards.
# Env: FLY_APP, FLY_REGION, FLY_MACHINE_COUNT, FLY_HEALTH_TIMEOUT_SECONDS, FLY_API_TOKEN.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

preflight
require_vars FLY_REGION FLY_MACHINE_COUNT
[[ "$FLY_MACHINE_COUNT" =~ ^[01]$ ]] || fail "machine count '$FLY_MACHINE_COUNT' is not 0 or 1"

flyctl scale count "$FLY_MACHINE_COUNT" --app "$FLY_APP" --region "$FLY_REGION" --yes >&2 \
  || fail "flyctl scale count $FLY_MACHINE_COUNT of app $FLY_APP failed (its error is above)"
if [ "$FLY_MACHINE_COUNT" -gt 0 ]; then
  wait_healthy
fi
status=$(flyctl status --app "$FLY_APP" --json) || fail "flyctl status failed (its error is above)"
printf '%s' "$status" | flyjson machine-count
