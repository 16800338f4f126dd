#!/usr/bin/env bash
# docker-compose.yml (issue 5, item 7) checked without a Docker engine: `docker compose
# config` where the Docker CLI has the compose plugin, else docker-compose 1.29 from PyPI in a
# venv under PGML_CACHE (its `config` validates against the compose schema offline; it needs
# no daemon). Also: the entrypoint parses, the three services the topology needs exist, the
# file needs both passwords, every port is published on 127.0.0.1 only, and no network
# connection is trusted (issue 32). Not checked here: a real `docker compose up` (no engine).
#   tests/compose.sh      (run by scripts/test.sh)
source "$(dirname "$0")/../scripts/common.sh"
set -euo pipefail
cd "$ROOT"
bash -n docker/entrypoint.sh
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  venv="$PGML_CACHE/compose-venv"
  if [ ! -x "$venv/bin/docker-compose" ]; then
    log "docker-compose 1.29.2 from PyPI into $venv (to validate docker-compose.yml)"
    python3 -m venv "$venv"
    # 1.29.2 pins PyYAML<6, which has no wheel for this Python: install it without its pins.
    "$venv/bin/pip" install -q --disable-pip-version-check "pyyaml==6.0.2" "docker>=5,<7" dockerpty \
      texttable docopt "python-dotenv<1" "jsonschema<4" distro "websocket-client<1" "requests<2.32"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "docker-compose==1.29.2"
  fi
  COMPOSE=("$venv/bin/docker-compose")
  PY="$venv/bin/python"   # has PyYAML (docker-compose's own dependency)
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
# Nothing is trusted: without the two passwords the file does not even resolve.
if env -u PGML_PASSWORD -u PGML_REPLICATION_PASSWORD "${COMPOSE[@]}" config -q 2>/dev/null; then
  fail "docker-compose.yml resolves without PGML_PASSWORD and PGML_REPLICATION_PASSWORD"
fi
export PGML_PASSWORD=compose-check PGML_REPLICATION_PASSWORD=compose-check
"${COMPOSE[@]}" config -q
services=$("${COMPOSE[@]}" config --services | sort | tr '\n' ' ')
[ "$services" = "pgbouncer primary replica " ] || fail "services are: $services"
# Every published port on loopback only.
ports=$("${COMPOSE[@]}" config | "${PY:-python3}" -c '
import sys, yaml
for name, s in yaml.safe_load(sys.stdin)["services"].items():
    for p in s.get("ports", []):
        print(name, p if isinstance(p, str) else "{}:{}:{}".format(p.get("host_ip", "*"), p.get("published"), p.get("target")))')
[ -n "$ports" ] || fail "no published ports"
if grep -v ' 127\.0\.0\.1:' <<< "$ports"; then fail "ports published beyond 127.0.0.1 (above)"; fi
# No network connection is trusted, and no role but postgres (local socket only) is a superuser.
if grep -nE '^host.*trust|SUPERUSER' docker/entrypoint.sh; then fail "trust or SUPERUSER in docker/entrypoint.sh (above)"; fi
grep -q 'scram-sha-256' docker/entrypoint.sh || fail "docker/entrypoint.sh sets no scram-sha-256"
# The image installs the Debian package (issue 35): the runtime stage builds nothing.
runtime=$(sed -n '/^FROM debian/,$p' docker/Dockerfile)
grep -q 'scripts/package.sh' docker/Dockerfile || fail "docker/Dockerfile does not build the package"
grep -q 'apt-get install .*/tmp/pgml.deb' <<< "$runtime" || fail "the runtime stage does not apt-get install the package"
if grep -nE 'cargo|install\.sh|COPY --from=build /out' <<< "$runtime"; then fail "the runtime stage builds or copies files past the package (above)"; fi
echo "compose: ok (docker-compose.yml valid; the image installs the .deb; services: $services; ports $(awk '{print $2}' <<< "$ports" | tr '\n' ' ')on loopback; passwords required, scram-sha-256)"
