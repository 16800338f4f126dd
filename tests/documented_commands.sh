#!/usr/bin/env bash
# Every script that a document tells users to run is executable and starts with a shebang:
# a command documented as `benches/microservice/run.sh` must not answer "Permission denied"
# (it did, issue 31). Documents: every tracked Markdown file and the comment lines of every
# tracked script (their usage lines). A path run through an interpreter (`bash x.sh`,
# `python3 x.py`) or sourced is not a command and is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='(?<![\w/.-])(?:\./)?(?:benches|scripts|tests|docker|examples)/[\w./-]+\.(?:sh|py)\b'
documented=$(
  {
    git ls-files '*.md' | xargs -r cat
    git ls-files '*.sh' '*.py' | xargs -r grep -h '^[[:space:]]*#' || true
  } | grep -vP "(bash|sh|python3?|source|\.)\s+(?:\./)?(?:benches|scripts|tests|docker)/" |
    grep -oP "$pattern" | sed 's|^\./||' | sort -u
)
checked=0 failed=0
for f in $documented; do
  [ -f "$f" ] || continue   # a path in prose that names no file of ours (or no longer does)
  checked=$((checked + 1))
  if [ ! -x "$f" ]; then
    echo "not executable: $f (documented as a command; git update-index --chmod=+x $f)" >&2
    failed=$((failed + 1))
  elif ! head -c 2 "$f" | grep -q '^#!'; then
    echo "no shebang: $f" >&2
    failed=$((failed + 1))
  fi
done
echo "documented commands: $((checked - failed)) passed, $failed failed"
[ "$failed" = 0 ]
