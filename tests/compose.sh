#!/usr/bin/env bash
# docker-compose.yml (issue 5, item 7) checked without a Docker engine: `docker compose
# config` where the Docker CLI has the compose plugin, else docker-compose 1.29 from PyPI in a
# venv under PGML_CACHE (its `config` validates against the compose schema offline; it needs
# no daemon). Also: the entrypoint parses, and the three services the topology needs exist.
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
fi
"${COMPOSE[@]}" config -q
services=$("${COMPOSE[@]}" config --services | sort | tr '\n' ' ')
[ "$services" = "pgbouncer primary replica " ] || { echo "FAIL: services are: $services" >&2; exit 1; }
echo "compose: ok (docker-compose.yml valid; services: $services)"
