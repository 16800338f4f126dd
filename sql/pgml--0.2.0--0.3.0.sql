-- pgml 0.2.0 -> 0.3.0 (issue 35). Run by ALTER EXTENSION pgml UPDATE; tests/upgrade.sh checks
-- that a database updated through it describes exactly as a fresh CREATE EXTENSION of 0.3.0.
\echo Use "ALTER EXTENSION pgml UPDATE" to load this file. \quit

-- What a DBA checks after replacing the library: its version, this database's SQL version,
-- the SQL versions the library serves, and whether an update is available.
CREATE FUNCTION pgml.versions() RETURNS TABLE (
    "library" TEXT,
    "extension" TEXT,
    "served" TEXT[],
    "update_available" bool
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'versions_wrapper';
