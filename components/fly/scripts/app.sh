#!/usr/bin/env bash
# The Fly app. create: adopt it if it exists, else create it. delete: destroy it without a
# prompt; an app that is already gone counts as success.
# Env: FLY_APP, FLY_ORG, FLY_API_TOKEN.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

action=${1:-}
preflight
require_vars FLY_ORG

case "$action" in
  create)
    if org=$(app_org); then
      [ "$org" = "$FLY_ORG" ] \
        || fail "app $FLY_APP exists in org '$org', not in the configured org '$FLY_ORG'; move it with flyctl apps move or fix fly.org"
      log "app $FLY_APP already exists in org $FLY_ORG; adopting it"
      echo adopted
    else
      status=$?
      [ "$status" -eq 3 ] || fail "could not read flyctl apps list output"
      flyctl apps create "$FLY_APP" --org "$FLY_ORG" >&2 \
        || fail "flyctl apps create $FLY_APP failed (its error is above)"
      echo created
    fi
    ;;
  delete)
    if app_org >/dev/null; then
      flyctl apps destroy "$FLY_APP" --yes >&2 \
        || fail "flyctl apps destroy $FLY_APP failed (its error is above)"
      log "app $FLY_APP destroyed"
    else
      status=$?
      [ "$status" -eq 3 ] || fail "could not read flyctl apps list output"
      log "app $FLY_APP is already gone"
    fi
    ;;
  *)
    fail "usage: app.sh create|delete"
    ;;
esac
