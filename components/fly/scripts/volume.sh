#!/usr/bin/env bash
# The /workspace volume: created once and kept across deploys; grown if the config asks for
# more. It is deleted with the app (a volume is never destroyed on its own: it holds the data).
# Env: FLY_APP, FLY_REGION, FLY_VOLUME, FLY_VOLUME_SIZE_GB, FLY_API_TOKEN.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

preflight
require_vars FLY_REGION FLY_VOLUME FLY_VOLUME_SIZE_GB
[[ "$FLY_VOLUME" =~ ^[a-z][a-z0-9_]{0,29}$ ]] || fail "volume name '$FLY_VOLUME' is not valid"

volumes=$(flyctl volumes list --app "$FLY_APP" --json) \
  || fail "flyctl volumes list failed (its error is above)"
if found=$(printf '%s' "$volumes" | flyjson volume "$FLY_VOLUME"); then
  read -r volume_id size_gb <<<"$found"
  if ((size_gb < FLY_VOLUME_SIZE_GB)); then
    flyctl volumes extend "$volume_id" --app "$FLY_APP" --size "$FLY_VOLUME_SIZE_GB" --yes >&2 \
      || fail "flyctl volumes extend $volume_id failed (its error is above)"
  elif ((size_gb > FLY_VOLUME_SIZE_GB)); then
    fail "volume $FLY_VOLUME ($volume_id) is ${size_gb} GB; Fly volumes cannot shrink to ${FLY_VOLUME_SIZE_GB} GB"
  else
    log "volume $FLY_VOLUME ($volume_id) already exists; keeping it"
  fi
else
  status=$?
  [ "$status" -eq 3 ] || fail "could not read flyctl volumes list output"
  flyctl volumes create "$FLY_VOLUME" --app "$FLY_APP" --region "$FLY_REGION" \
    --size "$FLY_VOLUME_SIZE_GB" --yes >&2 \
    || fail "flyctl volumes create $FLY_VOLUME failed (its error is above)"
  volumes=$(flyctl volumes list --app "$FLY_APP" --json) \
    || fail "flyctl volumes list failed (its error is above)"
  found=$(printf '%s' "$volumes" | flyjson volume "$FLY_VOLUME") \
    || fail "volume $FLY_VOLUME was not listed after flyctl volumes create"
  read -r volume_id size_gb <<<"$found"
fi
echo "$volume_id"
