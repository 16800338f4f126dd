#!/usr/bin/env bash
# The extension's arrows point one way (CONTRIBUTING.md): api -> train / serve -> catalog / pg
# -> pgml_core. Each folder of src/ may name only the modules listed for it below in its
# `crate::` paths; error.rs names none. A use of another module is an upward or sideways arrow
# (an import cycle in the making) and fails this check. The core crate needs no such check:
# it does not depend on pgrx or on the extension, so the compiler keeps it pure.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A ALLOWED=(
  [api]="api train serve catalog pg error gucs"
  [train]="train catalog pg error gucs"
  [serve]="serve catalog pg error gucs"
  [catalog]="catalog error"
  [pg]="pg error"
  [gucs.rs]="pg"
  [error.rs]=""
)
failed=0 checked=0
for layer in "${!ALLOWED[@]}"; do
  for f in $(find "src/$layer" -name '*.rs' 2>/dev/null || echo "src/$layer"); do
    checked=$((checked + 1))
    # Every `crate::x` path, and the `crate::{x, y}` groups, outside comments.
    used=$(grep -v '^\s*//' "$f" | grep -oP 'crate::\{[^}]*\}|crate::\w+' |
      sed -E 's/crate::\{(.*)\}/\1/; s/crate:://' | tr ', ' '\n\n' | sed 's/::.*//' | grep -v '^$' | sort -u || true)
    for m in $used; do
      if [[ " ${ALLOWED[$layer]} " != *" $m "* ]]; then
        echo "$f: uses crate::$m, which $layer may not (allowed: ${ALLOWED[$layer]:-none})" >&2
        failed=$((failed + 1))
      fi
    done
  done
done
echo "layers: $((checked)) files checked, $failed upward or sideways imports"
[ "$failed" = 0 ]
