"""Whether two SQL files from pgrx hold the same statements (tests/upgrade.sh): the release's
frozen file against what the current build generates for the same version.

pgrx writes one block per entity between "<begin connected objects>" markers in an order it
does not keep stable, with comments that move with the Rust code ("-- src/file.rs:LINE", the
Rust path, "/* Vec < f32 > */" after each type); the blocks are compared as a multiset of
their statements without comments. Prints the blocks only one side has.
"""
import re
import sys
from collections import Counter


def blocks(path):
    text = open(path).read()
    out = Counter()
    for block in text.split("/* <begin connected objects> */"):
        block = block.replace("/* </end connected objects> */", "")
        lines = [re.sub(r"/\*.*?\*/", "", l).rstrip() for l in block.splitlines()]
        lines = [l for l in lines if l.strip() and not l.lstrip().startswith("--")]
        body = "\n".join(lines).strip()
        if body:
            out[body] += 1
    return out


frozen, built = blocks(sys.argv[1]), blocks(sys.argv[2])
if frozen == built:
    sys.exit(0)
for name, side in (("only in " + sys.argv[1], frozen - built), ("only in " + sys.argv[2], built - frozen)):
    for block in side:
        print(f"--- {name}:\n{block[:600]}\n")
sys.exit(1)
