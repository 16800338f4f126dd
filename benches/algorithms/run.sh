#!/usr/bin/env bash
# pgml against scikit-learn / xgboost / lightgbm (PyPI, in a venv this script creates) on the
# bundled datasets: metric, fit, batch and single-row predict times, side by side.
#   benches/algorithms/run.sh           (after `make demo`; about 5 minutes)
#   QUICK=1 benches/algorithms/run.sh   (shorter timing loops; about 2 minutes)
# Writes benches/algorithms/results.json and benches/algorithms/REPORT.md.
source "$(dirname "$0")/../../scripts/common.sh"
HERE="$ROOT/benches/algorithms"
VENV="$PGML_CACHE/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sklearn, xgboost, lightgbm" 2>/dev/null; then
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  fi
  log "creating $VENV (scikit-learn, xgboost, lightgbm from PyPI)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
fi
"$ROOT/scripts/cluster.sh" start >/dev/null
# One thread per library on both sides would hide nothing here: the machine has $(nproc)
# cores, and both sides use the libraries' defaults (all cores for XGBoost and LightGBM).
PSQL="$PGBIN/psql" "$VENV/bin/python" "$HERE/bench.py"
"$VENV/bin/python" "$HERE/report.py" "$HERE/results.json" > "$HERE/REPORT.md"
cat "$HERE/REPORT.md"
