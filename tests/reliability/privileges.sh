# The reliability suite, part 3: privileges and search_path. Sourced by run.sh (see there for
# Q, check, figure and section). Roles are cluster-wide: each is dropped and re-created.

section "Privileges and search_path"
# psql as a role into rf_priv, ending with the SQLSTATE of its error, or OK.
as_role() {
  local role=$1
  shift
  local out
  out=$("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U "$role" -d rf_priv -c '\set VERBOSITY verbose' "$@" 2>&1) &&
    { echo OK; return; }
  grep -o -m1 -E '^(ERROR|FATAL):  [0-9A-Z]{5}' <<< "$out" | awk '{print $2}' || echo "none"
}
value_as() {
  local role=$1
  shift
  "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U "$role" -d rf_priv "$@" 2>&1
}

fresh_db rf_priv
for role in rf_app rf_trainer rf_nobody rf_member rf_stats rf_victim; do
  "${Q[@]}" -d pgml -c "SET client_min_messages = warning" -c "DROP OWNED BY $role" -c "DROP ROLE IF EXISTS $role" 2>/dev/null ||
    "${Q[@]}" -d pgml -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS $role"
  "${Q[@]}" -d pgml -c "CREATE ROLE $role LOGIN"
done
# The grants README.md documents (section "Privileges"): USAGE on the schema for every role
# that uses pgml, EXECUTE on the training functions for a trainer (which also needs a schema
# of its own to create tables in: public here), and the project owner's pgml.grant_project
# for serving.
"${Q[@]}" -d rf_priv -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
GRANT USAGE ON SCHEMA pgml TO rf_app, rf_nobody, rf_trainer, rf_victim;
GRANT EXECUTE ON FUNCTION pgml.train, pgml.train_joint, pgml.snapshot, pgml.load_dataset TO rf_trainer, rf_victim;
GRANT CREATE ON SCHEMA public TO rf_trainer, rf_victim;
-- A table only its owner (the superuser) may read. Schema-qualified: for the role pgml,
-- "$user" in the default search_path is the schema pgml.
CREATE TABLE public.secret AS SELECT * FROM pgml.diabetes;
SELECT count(*) FROM pgml.train('rf_owned', 'regression', 'public.secret', 'target', 'xgboost', '{"n_estimators": 10}');
SELECT pgml.grant_project('rf_owned', 'predict', 'rf_app');
SQL
ROW="ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]::real[]"
PREDICT="SELECT pgml.predict('rf_owned', $ROW)"

secdef=$("${Q[@]}" -d rf_priv -c "SELECT count(*) FROM pg_catalog.pg_proc WHERE pronamespace = 'pgml'::regnamespace AND prosecdef")
check "no pgml function is SECURITY DEFINER" "$secdef" "0"
figure "SECURITY DEFINER functions in schema pgml: $secdef (every function runs with the caller's privileges; pgml's own catalog statements alone run as the extension owner, after pgml's check of the caller's privilege on the project)"

# A role with no privilege on the project is refused, also after the superuser's predict
# has put the model in the shared cache and in that backend's cache.
owner=$("${Q[@]}" -d rf_priv -c "$PREDICT")
check "a role without the predict privilege cannot predict (model in the shared cache)" "$(as_role rf_nobody -c "$PREDICT")" "42501"
check "the same with the shared cache off" "$(as_role rf_nobody -c "SET pgml.shared_cache = off" -c "$PREDICT")" "42501"
check "a role cannot predict after SET ROLE in a backend where the superuser loaded the model" \
  "$(value_as pgml -c '\set VERBOSITY verbose' -c "$PREDICT" -c "SET ROLE rf_nobody" -c "$PREDICT" | grep -o -m1 -E 'ERROR:  [0-9A-Z]{5}' | awk '{print $2}')" "42501"
check "a role without EXECUTE on pgml.train cannot train" \
  "$(as_role rf_nobody -c "SELECT * FROM pgml.train('rf_nope', 'regression', 'pgml.diabetes', 'target')")" "42501"
figure "a role with USAGE on schema pgml and no privilege on the project: predict refused (42501) with the model cached in shared memory, with the shared cache off, and after SET ROLE in a backend that had it loaded; train refused (42501)"

# The documented read-only grant serves predictions and nothing else.
check "the predict grant: predict works" "$(value_as rf_app -c "$PREDICT")" "$owner"
check "the predict grant: train refused" \
  "$(as_role rf_app -c "SELECT * FROM pgml.train('rf_nope', 'regression', 'pgml.diabetes', 'target')")" "42501"
check "the predict grant: deploy refused" "$(as_role rf_app -c "SELECT * FROM pgml.deploy('rf_owned', 'most_recent')")" "42501"
figure "the documented serving grant (USAGE on schema pgml, pgml.grant_project(project, 'predict', role)): predict gives the owner's answer ($owner); train and deploy refused (42501)"

# A grant held through a role, and superuser, change no table: a warm session that loses
# either is refused on its next predict, not served from its cache (src/serve/cache.rs bumps the
# privilege check on the role and membership syscaches), and served again once given back.
# rf_member has USAGE on the schema itself, so the refusal is pgml's, not the parser's.
"${Q[@]}" -d rf_priv -c "GRANT USAGE ON SCHEMA pgml TO rf_member" -c "GRANT rf_app TO rf_member" >/dev/null
as_pgml() { echo "\\! $PGBIN/psql -X -q -h 127.0.0.1 -p $PORT -U pgml -d rf_priv -c '$1'"; }
DENIED='may not predict with project "rf_owned"'
# || true: psql's status is that of its last statement; the checks read its output.
warm=$(value_as rf_member -c "$PREDICT" -c "$(as_pgml 'REVOKE rf_app FROM rf_member')" -c "$PREDICT" \
  -c "$(as_pgml 'GRANT rf_app TO rf_member')" -c "$PREDICT" || true)
check "a warm session that loses the role holding its grant: predicted before" "$(sed -n 1p <<< "$warm")" "$owner"
check "a warm session that loses the role holding its grant: the next predict refused" "$(grep -c "$DENIED" <<< "$warm")" "1"
check "a warm session given the role back: predicts again" "$(tail -n 1 <<< "$warm")" "$owner"
"${Q[@]}" -d rf_priv -c "REVOKE rf_app FROM rf_member" -c "ALTER ROLE rf_member SUPERUSER" >/dev/null
demoted=$(value_as rf_member -c "$PREDICT" -c "$(as_pgml 'ALTER ROLE rf_member NOSUPERUSER')" -c "$PREDICT" || true)
check "a warm superuser session without grants: predicted before" "$(sed -n 1p <<< "$demoted")" "$owner"
check "a warm session whose superuser is taken away: the next predict refused" "$(grep -c "$DENIED" <<< "$demoted")" "1"
figure "in a warm session (model cached): REVOKE of the role holding the predict privilege, or ALTER ROLE ... NOSUPERUSER, from another session refuses the next predict (42501); GRANT of the role back serves it again"

# The documented training grant: train and predict on its own tables, not on others'.
"${Q[@]}" -d rf_priv -c "SELECT pgml.load_dataset('iris', 'public')" >/dev/null
check "the training grant: load a dataset (into its current_schema)" "$(value_as rf_trainer -c "SELECT table_name FROM pgml.load_dataset('wine')")" "public.wine"
check "the training grant: ... not over another role's dataset table" "$(as_role rf_trainer -c "SELECT pgml.load_dataset('iris')")" "42501"
check "the training grant: ... not into schema pgml" "$(as_role rf_trainer -c "SELECT pgml.load_dataset('iris', 'pgml')")" "42501"
check "the training grant: train on its own table" "$(as_role rf_trainer -c "CREATE TABLE mine AS SELECT * FROM public.wine" \
  -c "SELECT * FROM pgml.train('rf_mine', 'classification', 'mine', 'target', 'lightgbm', '{\"n_estimators\": 5}')")" "OK"
check "the training grant: predict" "$(as_role rf_trainer -c "SELECT pgml.predict('rf_mine', m) FROM mine m LIMIT 1")" "OK"
denied=$(as_role rf_trainer -c "SELECT * FROM pgml.train('rf_stolen', 'regression', 'secret', 'target', 'linear')")
check "the training grant: train on a table it may not SELECT" "$denied" "42501"
check "the training grant: ... through a view it owns" "$(as_role rf_trainer -c "CREATE VIEW peek AS SELECT * FROM secret" \
  -c "SELECT * FROM pgml.train('rf_stolen', 'regression', 'peek', 'target', 'linear')")" "42501"
check "the training grant: ... with a materialized snapshot" "$(as_role rf_trainer \
  -c "SELECT * FROM pgml.train('rf_stolen', 'regression', 'secret', 'target', 'linear', materialize_snapshot => true)")" "42501"
check "refused trainings leave nothing" "$(leftovers rf_priv rf_stolen)" "0 models, 0 deployments, 0 orphan snapshot tables"
figure "the documented training grant (EXECUTE on pgml.train, train_joint, snapshot and load_dataset; CREATE on a schema of its own): load_dataset into its schema, train and predict on its own table work; load_dataset over another role's table or into schema pgml refused (42501); training on a table it may not SELECT is refused ($denied), directly, through a view it owns and with a materialized snapshot, and leaves no model, deployment or snapshot table"

# A hostile search_path: a schema ahead of pg_catalog whose operators, a type named text and
# functions would be picked by any unqualified name in pgml's internal statements. Each
# trap records that it ran. Train, deploy, load a dataset and predict under it, and compare.
"${Q[@]}" -d rf_priv -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA evil;
CREATE TABLE evil.calls (what text);
-- One trap function per operand types (CREATE OPERATOR takes no polymorphic function).
DO $$
DECLARE t text[];
BEGIN
  FOREACH t SLICE 1 IN ARRAY ARRAY[['=', 'text', 'text'], ['=', 'bigint', 'bigint'], ['=', 'integer', 'integer'],
                                   ['=', 'oid', 'oid'], ['=', '"char"', '"char"'], ['>', 'smallint', 'integer'],
                                   ['=', 'bigint', 'integer'], ['=', 'jsonb', 'jsonb']] LOOP
    EXECUTE format('CREATE FUNCTION evil.%s(a %s, b %s) RETURNS boolean LANGUAGE plpgsql AS %L',
                   'trap_' || md5(t::text), t[2], t[3],
                   format('BEGIN INSERT INTO evil.calls VALUES (%L); RETURN false; END', t::text));
    EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.%s)',
                   t[1], t[2], t[3], 'trap_' || md5(t::text));
  END LOOP;
END $$;
CREATE FUNCTION evil.trap_concat(text, text) RETURNS text LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO evil.calls VALUES ('||'); RETURN 'evil'; END$$;
CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.trap_concat);
CREATE DOMAIN evil.text AS integer;
CREATE FUNCTION evil.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT -1::bigint';
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT 'epoch'::timestamptz$$;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT INSERT ON evil.calls TO PUBLIC;
CREATE TABLE public.plain AS SELECT * FROM pgml.diabetes;
SQL
HOSTILE="SET search_path = evil, pg_catalog, public"
# Same statements under the default and the hostile search_path; their answers must match.
hostile_run() {
  local out
  out="$("${Q[@]}" -d rf_priv -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "$1" -c "
    SELECT count(*) FROM pgml.train('$2', 'regression', 'plain', 'target', 'linear');
    SELECT count(*) FROM pgml.train('$2', algorithm => 'xgboost', hyperparams => '{\"n_estimators\": 5}');
    SELECT count(*) FROM pgml.deploy('$2', 'most_recent', 'xgboost');
    SELECT count(*) FROM pgml.deploy('$2', 'rollback');
    SELECT count(*) FROM pgml.deploy('$2', 'best_score');
    SELECT count(*) FROM pgml.train('$2_cls', 'classification', 'pgml.iris', 'target', 'lightgbm', '{\"n_estimators\": 5}', materialize_snapshot => true);
    SELECT count(*) FROM pgml.load_dataset('breast_cancer');
    SET pgml.shared_cache = off;
    SELECT pgml.predict('$2', $ROW), pgml.predict('$2_cls', ARRAY[5.1, 3.5, 1.4, 0.2]);" 2>&1)" &&
    tail -1 <<< "$out" || tail -3 <<< "$out"
}
# The traps work: an unqualified statement like pgml's internal ones springs them.
sprung=$("${Q[@]}" -d rf_priv -c "$HOSTILE" -c "SELECT count(*) FROM pgml.projects WHERE name = 'x'" \
  -c "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace" \
  -c "RESET search_path" -c "SELECT count(*) FROM evil.calls" -c "TRUNCATE evil.calls" | tail -1)
check "under a hostile search_path: the traps spring for unqualified statements" "$([ "$sprung" -gt 0 ] && echo yes)" "yes"
plain=$(hostile_run "RESET search_path" rf_path_plain)
hostile=$(hostile_run "$HOSTILE" rf_path_hostile)
calls=$("${Q[@]}" -d rf_priv -c "SELECT count(*) FROM evil.calls")
check "under a hostile search_path: the same answers" "$hostile" "$plain"
check "under a hostile search_path: no trap ran" "$calls" "0"
figure "a hostile search_path (a schema ahead of pg_catalog with = for text, bigint, integer, oid and \"char\", > , ||, a type named text, count() and now()): train, retrain, deploy (most_recent, rollback, best_score), a materialized snapshot, load_dataset and predict give the same answers as with the default search_path ($plain), and none of the traps ran ($calls calls; the same traps sprang $sprung times for two unqualified catalog queries)"

# pgml.training_progress shows what pg_stat_progress_* would: this database's trainings of
# the role itself, or of every role with pg_read_all_stats. The superuser trains (a long run,
# in the background) while the others look.
"${Q[@]}" -d rf_priv -c "GRANT USAGE ON SCHEMA pgml TO rf_stats" -c "GRANT pg_read_all_stats TO rf_stats" >/dev/null
"${Q[@]}" -d rf_priv -c "SET application_name = 'rf_long_training'" \
  -c "SELECT count(*) FROM pgml.train('rf_long', 'regression', 'public.secret', 'target', 'xgboost', '{\"n_estimators\": 1000000, \"max_depth\": 8}')" \
  >/dev/null 2>&1 &
long_pid=$!
seen=0
for _ in $(seq 300); do
  seen=$("${Q[@]}" -d rf_priv -c "SELECT count(*) FROM pgml.training_progress WHERE project = 'rf_long'")
  [ "$seen" = 1 ] && break
  sleep 0.1
done
progress_count() { value_as "$1" -c "SELECT count(*) FROM pgml.training_progress WHERE project = 'rf_long'"; }
check "training_progress: the training's own role sees it" "$seen" "1"
check "training_progress: another role does not" "$(progress_count rf_member)" "0"
check "training_progress: a role with pg_read_all_stats does" "$(progress_count rf_stats)" "1"
check "training_progress: another database does not" \
  "$("${Q[@]}" -d pgml -c "SELECT count(*) FROM pgml.training_progress WHERE project = 'rf_long'")" "0"
"${Q[@]}" -d rf_priv -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'rf_long_training'" >/dev/null
wait "$long_pid" || true
figure "pgml.training_progress during another role's training: seen by its own role, not by another role (0 rows), seen with pg_read_all_stats, not from another database"

# The trigger function that invalidates model caches cannot be attached by anyone else.
check "PUBLIC cannot execute the trigger function pgml.deployments_changed()" \
  "$("${Q[@]}" -d rf_priv -c "SELECT has_function_privilege('rf_nobody', 'pgml.deployments_changed()', 'EXECUTE')")" "f"
check "... so a role cannot attach it to a table of its own" \
  "$(as_role rf_trainer -c "CREATE TABLE mine_trig (a int)" -c "CREATE TRIGGER t AFTER INSERT ON mine_trig EXECUTE FUNCTION pgml.deployments_changed()")" "42501"
figure "pgml.deployments_changed(): not executable by PUBLIC; CREATE TRIGGER with it on a role's own table is refused (42501), while pgml's own triggers still fire for every role"

