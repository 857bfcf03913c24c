#!/usr/bin/env bash
# One rollout of the rendered fly.toml and the digest-pinned image, then the health wait.
# Re-runs caused only by inputs that do not change what runs (token, timeouts, running flag)
# compare the fingerprint with the previous run's and deploy nothing.
# Env: FLY_APP, FLY_TOML, FLY_IMAGE, FLY_DEPLOY_STRATEGY, FLY_WAIT_TIMEOUT_SECONDS,
# FLY_HEALTH_TIMEOUT_SECONDS, FLY_PUBLIC_IPS, FLY_RUNNING, FLY_DEPLOY_FINGERPRINT, FLY_API_TOKEN;
# PULUMI_COMMAND_STDOUT: the previous run's fingerprint.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

preflight
require_vars FLY_TOML FLY_IMAGE FLY_DEPLOY_STRATEGY FLY_WAIT_TIMEOUT_SECONDS \
  FLY_PUBLIC_IPS FLY_RUNNING FLY_DEPLOY_FINGERPRINT

if [ "${PULUMI_COMMAND_STDOUT:-}" = "$FLY_DEPLOY_FINGERPRINT" ]; then
  log "fly.toml, image and secrets of app $FLY_APP are unchanged; not deploying"
  echo "$FLY_DEPLOY_FINGERPRINT"
  exit 0
fi

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
printf '%s' "$FLY_TOML" >"$workdir/fly.toml"

args=(deploy --app "$FLY_APP" --config "$workdir/fly.toml" --image "$FLY_IMAGE"
  --ha=false --strategy "$FLY_DEPLOY_STRATEGY" --wait-timeout "${FLY_WAIT_TIMEOUT_SECONDS}s")
if [ "$FLY_PUBLIC_IPS" != "true" ]; then
  args+=(--no-public-ips)
fi
# Run from the temporary folder so flyctl cannot pick up any other fly.toml or Dockerfile.
(cd "$workdir" && flyctl "${args[@]}") >&2 \
  || fail "flyctl deploy of app $FLY_APP failed (flyctl's error is above)"

if [ "$FLY_RUNNING" = "true" ]; then
  wait_healthy
else
  # A deploy starts a machine even for a stopped sandbox; keep it stopped.
  flyctl scale count 0 --app "$FLY_APP" --yes >&2 \
    || fail "flyctl scale count 0 of app $FLY_APP failed (its error is above)"
fi
echo "$FLY_DEPLOY_FINGERPRINT"
