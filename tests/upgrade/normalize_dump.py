"""Normalizes `pg_dump --schema-only --binary-upgrade` output for comparison (tests/upgrade.sh).

--binary-upgrade is the one pg_dump mode that writes an extension's member objects (with
ALTER EXTENSION ... ADD), so a database updated by ALTER EXTENSION and a fresh CREATE
EXTENSION can be compared object by object. What it also writes that says nothing about the
schema goes: OIDs, relfrozenxid, comments, \\restrict keys, stored "missing" values of columns
added with a default, and the placeholders that keep a dropped column's number.
"""
import re
import sys

text = open(sys.argv[1]).read()
# A dropped column: its placeholder in CREATE TABLE, then the block that drops it again.
text = re.sub(
    r"UPDATE pg_catalog\.pg_attribute\nSET attlen[^\n]*\nWHERE attname = '[^']*pg\.dropped[^\n]*\n[^\n]*\n"
    r"(ALTER TABLE ONLY [^\n]* DROP COLUMN [^\n]*\n)?",
    "",
    text,
)
out = []
for line in text.splitlines():
    if not line.strip() or line.startswith("--") or line.startswith(("\\restrict", "\\unrestrict")):
        continue
    if "pg.dropped" in line or "relfrozenxid" in line or "binary_upgrade_set_missing_value" in line:
        continue
    if "binary_upgrade" in line or "WHERE oid" in line:
        line = re.sub(r"\b[0-9A-F]+/[0-9A-F]+\b", "<lsn>", line)
        line = re.sub(r"\b\d{4,}\b", "<oid>", line)
    out.append(line)
# A dropped last column leaves a comma before the closing parenthesis.
print(re.sub(r",\n\)", "\n)", "\n".join(out)))
