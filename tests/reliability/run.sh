#!/usr/bin/env bash
# The reliability suite (issue 8), part 1: the bad-input corpus. Starts its own cluster
# (pgml preloaded), loads the fixtures of setup.sql, then runs every case of
# bad_input.cases in a session of its own: the statement must fail with the case's SQLSTATE
# (or succeed, for "OK"), and the postmaster must not have restarted (a backend crash
# restarts every connection: pg_postmaster_start_time() changes). At the end, the tables
# the injection attempts aimed at must be intact. Writes the figures to tests/RELIABILITY.md.
#   tests/reliability/run.sh      (run by scripts/test.sh)
source "$(dirname "$0")/../../scripts/common.sh"
HERE="$ROOT/tests/reliability"
PORT=${PGML_RELIABILITY_PORT:-5437}
DATA=${PGML_RELIABILITY_DIR:-/var/tmp/pgml-reliability}
stop() { as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true; }
stop
rm -rf "$DATA"
trap stop EXIT
"$ROOT/scripts/cluster.sh" start "$PORT" "$DATA" >/dev/null
PSQL=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d pgml)
"${PSQL[@]}" -v ON_ERROR_STOP=1 -f "$HERE/setup.sql" >/dev/null
started=$("${PSQL[@]}" -c "SELECT pg_postmaster_start_time()")

cases=0 failed=0
declare -A BY_STATE
while IFS= read -r line; do
  [[ "$line" =~ ^([0-9A-Z]{5}|OK)\ \|\ (.*)$ ]] || continue
  want=${BASH_REMATCH[1]} sql=${BASH_REMATCH[2]}
  cases=$((cases + 1))
  out=$(timeout 120 "${PSQL[@]}" -c '\set VERBOSITY verbose' -c "$sql" 2>&1) && rc=0 || rc=$?
  got=$(grep -o -m1 -E '^(ERROR|FATAL|PANIC):  [0-9A-Z]{5}' <<< "$out" | awk '{print $2}' || true)
  [ "$rc" = 0 ] && got=OK
  [ -z "$got" ] && got="none (rc $rc)"
  now=$("${PSQL[@]}" -c "SELECT pg_postmaster_start_time()" 2>&1 || echo "no answer")
  if [ "$got" != "$want" ] || [ "$now" != "$started" ]; then
    failed=$((failed + 1))
    echo "FAIL: want $want, got $got: $sql" >&2
    [ "$now" != "$started" ] && echo "  the postmaster restarted (or does not answer): $now" >&2
    sed 's/^/  | /' <<< "$out" | head -5 >&2
  fi
  BY_STATE[$want]=$(( ${BY_STATE[$want]:-0} + 1 ))
done < "$HERE/bad_input.cases"

# The injection attempts named these; they must be untouched.
intact=$("${PSQL[@]}" -c "SELECT (SELECT count(*) FROM ri_small) || ' ' || (SELECT count(*) FROM pgml.iris)")
[ "$intact" = "120 150" ] || { echo "FAIL: fixture tables changed: $intact" >&2; failed=$((failed + 1)); }
restarts=$([ "$("${PSQL[@]}" -c "SELECT pg_postmaster_start_time()")" = "$started" ] && echo 0 || echo "at least 1")

echo "bad input: $cases cases, $failed failed, postmaster restarts: $restarts"
{
  echo "# Reliability figures"
  echo
  echo "Rerun: \`tests/reliability/run.sh\` (part of \`make test\`). $(date -u +%F), PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}')."
  echo
  echo "## Bad input (tests/reliability/bad_input.cases)"
  echo
  echo "Every case in its own session against a server with pgml preloaded; each must end with"
  echo "its SQLSTATE (or succeed, \"OK\"), and the postmaster must not restart."
  echo
  echo "- cases tried: $cases; failed: $failed; postmaster restarts: $restarts"
  echo "- tables the injection attempts named: intact ($intact rows)"
  echo
  echo "| SQLSTATE | cases |"
  echo "|---|---|"
  for k in $(printf '%s\n' "${!BY_STATE[@]}" | sort); do echo "| $k | ${BY_STATE[$k]} |"; done
} > "$ROOT/tests/RELIABILITY.md"
[ "$failed" = 0 ]
