#!/usr/bin/env bash
# Stages the app's secrets before the deploy, so the deploy rolls them out with the new config
# in one rollout. NAME=VALUE lines arrive on stdin and go straight to flyctl's stdin: a value is
# never in an argument, a variable that is printed, or a log line. Names dropped from the config
# since the last run are unset (staged too).
# Env: FLY_APP, FLY_SECRET_NAMES (space-separated), FLY_SECRETS_FINGERPRINT, FLY_API_TOKEN;
# PULUMI_COMMAND_STDOUT: the previous run's output (fingerprint, then the names it managed).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

preflight
require_vars FLY_SECRETS_FINGERPRINT
names=${FLY_SECRET_NAMES:-}
previous_fingerprint=""
previous_names=""
{
  read -r previous_fingerprint || true
  read -r previous_names || true
} <<<"${PULUMI_COMMAND_STDOUT:-}"

if [ "$previous_fingerprint" = "$FLY_SECRETS_FINGERPRINT" ]; then
  log "secrets of app $FLY_APP are unchanged; nothing to stage"
else
  if [ -n "$names" ]; then
    flyctl secrets import --app "$FLY_APP" --stage >&2 \
      || fail "flyctl secrets import failed (its error is above)"
    log "staged secrets $names for app $FLY_APP"
  fi
  removed=()
  for previous in $previous_names; do
    case " $names " in
      *" $previous "*) ;;
      *) removed+=("$previous") ;;
    esac
  done
  if ((${#removed[@]} > 0)); then
    flyctl secrets unset "${removed[@]}" --app "$FLY_APP" --stage >&2 \
      || fail "flyctl secrets unset failed (its error is above)"
    log "staged removal of secrets ${removed[*]} from app $FLY_APP"
  fi
fi
printf '%s\n%s\n' "$FLY_SECRETS_FINGERPRINT" "$names"
