# The reliability suite, part 4: attacks, each written the way a role with exactly the grants
# README.md documents (privileges.sh set them up in rf_priv) would try it. Each must fail for
# the attacker and change nothing. Then the catalog audit and a pg_dump / pg_restore round
# trip under the ownership model. Sourced by run.sh after privileges.sh (as_role, value_as,
# ROW and PREDICT come from there).

section "Attacks"
# The attacker: rf_trainer (may train, owns its projects). The victims: the superuser pgml
# (project rf_owned) and another trainer, rf_victim (project rf_theirs).
"${Q[@]}" -d rf_priv -c "CREATE SCHEMA victim AUTHORIZATION rf_victim" >/dev/null
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U rf_victim -d rf_priv -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT count(*) FROM pgml.load_dataset('wine', 'victim');
CREATE TABLE public.theirs AS SELECT * FROM victim.wine;
SELECT count(*) FROM pgml.train('rf_theirs', 'classification', 'theirs', 'target', 'lightgbm', '{"n_estimators": 5}', materialize_snapshot => true);
SQL
# The victim's materialized snapshot.
VSNAP=$("${Q[@]}" -d rf_priv -c "SELECT max(id) FROM pgml.snapshots WHERE materialized AND owner = 'rf_victim'::regrole")
# What an attack must not change: every catalog row and what each project predicts.
WROW="ARRAY[13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]::real[]"
state() {
  "${Q[@]}" -d rf_priv -c "SET pgml.shared_cache = off" -c "SELECT pg_catalog.md5(pg_catalog.concat_ws('|',
      (SELECT pg_catalog.string_agg(p.name || p.owner::text, ',' ORDER BY p.id) FROM pgml.projects p),
      (SELECT pg_catalog.string_agg(m.id || ':' || m.project_id, ',' ORDER BY m.id) FROM pgml.models m),
      (SELECT pg_catalog.string_agg(d.id || ':' || d.model_id, ',' ORDER BY d.id) FROM pgml.deployments d),
      (SELECT pg_catalog.string_agg(f.id || ':' || pg_catalog.md5(f.data), ',' ORDER BY f.id) FROM pgml.files f),
      (SELECT pg_catalog.string_agg(s.id || s.relation_name || s.owner::text, ',' ORDER BY s.id) FROM pgml.snapshots s),
      (SELECT pg_catalog.string_agg(g.project_id || g.grantee::text || g.privilege, ',' ORDER BY g.project_id, g.grantee::oid, g.privilege) FROM pgml.project_privileges g),
      (SELECT pg_catalog.string_agg(c.oid::regclass || c.relowner::regrole::text || c.relkind::text, ',' ORDER BY c.oid)
         FROM pg_catalog.pg_class c WHERE c.relnamespace = 'pgml'::regnamespace),
      (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc WHERE pronamespace = 'pgml'::regnamespace),
      (SELECT pg_catalog.count(*) FROM pgml.snapshot_$VSNAP),
      pgml.predict('rf_owned', $ROW), pgml.predict('rf_theirs', $WROW)))"
}
# The state before the next attacks; an md5 or the suite fails (a failing state query would
# otherwise compare equal to itself).
baseline() {
  before=$(state)
  check "attack baseline is an md5 of the catalog" "$(grep -cE '^[0-9a-f]{32}$' <<< "$before")" "1"
}
# SQLSTATE of a refusal, with " project" when it is pgml's own project check ("may not"),
# not a schema or EXECUTE denial that would refuse the attacker earlier.
refused() {
  local out
  out=$("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U "$1" -d rf_priv -c '\set VERBOSITY verbose' -c "$2" 2>&1) && { echo OK; return; }
  echo "$(grep -o -m1 -E '^ERROR:  [0-9A-Z]{5}' <<< "$out" | awk '{print $2}')$(grep -q 'may not' <<< "$out" && echo ' project')"
}
baseline
attack() { # NAME WANT OUTPUT: one attack, and the catalog unchanged after it.
  check "attack: $1" "$3" "$2"
  check "attack: $1: nothing changed" "$(state)" "$before"
  ATTACKS+=("| $1 | $3 |")
}
ATTACKS=()

# 1. A trojan overload: a pgml.predict that Postgres would prefer over (text, anyelement)
# for a row of public.secret, or any object in the schema pgml.
attack "trojan overload: CREATE FUNCTION pgml.predict(text, public.secret)" 42501 "$(as_role rf_trainer \
  -c "CREATE FUNCTION pgml.predict(text, public.secret) RETURNS real LANGUAGE sql AS 'SELECT 1::real'")"
attack "trojan table in schema pgml (CREATE TABLE pgml.digits)" 42501 "$(as_role rf_trainer -c "CREATE TABLE pgml.digits (a int)")"

# 2. A trojan dataset table: the attacker's public.digits with a trigger that would run as
# whoever loads the dataset into it.
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U rf_trainer -d rf_priv -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE public.ran_as (who text);
GRANT INSERT ON public.ran_as TO PUBLIC;
CREATE TABLE public.digits (a int);
CREATE FUNCTION public.record() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.ran_as VALUES (current_user); RETURN NULL; END$$;
CREATE TRIGGER record AFTER INSERT OR TRUNCATE ON public.digits EXECUTE FUNCTION public.record();
SQL
attack "trojan dataset table: the superuser's load_dataset('digits', 'public') over the attacker's table" 42501 \
  "$("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d rf_priv -c '\set VERBOSITY verbose' \
     -c "SELECT pgml.load_dataset('digits', 'public')" 2>&1 | grep -o -m1 -E 'ERROR:  [0-9A-Z]{5}' | awk '{print $2}')"
check "attack: trojan dataset table: its trigger never ran" "$("${Q[@]}" -d rf_priv -c "SELECT count(*) FROM public.ran_as")" "0"

# 3. Snapshot swap: the victim's materialized snapshot (pgml.snapshot_<id>) replaced, renamed,
# written or redirected; the attacker's own one too (a retrain of its project by another
# role would read it).
check "the victim's materialized snapshot exists" "$([ -n "$VSNAP" ] && echo yes)" "yes"
attack "snapshot swap: DROP TABLE pgml.snapshot_$VSNAP" 42501 "$(as_role rf_trainer -c "DROP TABLE pgml.snapshot_$VSNAP")"
attack "snapshot swap: ALTER TABLE pgml.snapshot_$VSNAP RENAME" 42501 "$(as_role rf_trainer -c "ALTER TABLE pgml.snapshot_$VSNAP RENAME TO old")"
attack "snapshot swap: CREATE VIEW pgml.snapshot_99" 42501 "$(as_role rf_trainer -c "CREATE VIEW pgml.snapshot_99 AS SELECT 1")"
attack "snapshot swap: INSERT INTO pgml.snapshot_$VSNAP" 42501 "$(as_role rf_trainer -c "INSERT INTO pgml.snapshot_$VSNAP SELECT * FROM public.wine")"
attack "snapshot redirect: UPDATE pgml.snapshots SET relation_name" 42501 "$(as_role rf_trainer \
  -c "UPDATE pgml.snapshots SET relation_name = 'public.wine'")"
attack "snapshot redirect: INSERT a snapshot and model row into the victim's project" 42501 "$(as_role rf_trainer \
  -c "INSERT INTO pgml.snapshots (relation_name, y_column_name, test_size, test_sampling, status, columns, analysis, owner) VALUES ('public.wine', '{target}', 0.25, 'random', 'successful', '[]', '{}', 'rf_trainer')")"
as_role rf_trainer -c "SELECT count(*) FROM pgml.train('rf_attacker', 'classification', 'public.wine', 'target', 'linear', materialize_snapshot => true)" >/dev/null
baseline
attack "snapshot swap: its own materialized snapshot, after training" 42501 "$(as_role rf_trainer \
  -c "DO \$\$BEGIN EXECUTE format('DROP TABLE pgml.snapshot_%s', (SELECT max(id) FROM pgml.snapshots WHERE materialized AND owner = 'rf_trainer'::regrole)); END\$\$")"

# 4. Cross-project training and deployment.
attack "cross-project training: train the victim's project on its own table" "42501 project" "$(refused rf_trainer \
  "SELECT * FROM pgml.train('rf_theirs', relation_name => 'public.wine')")"
attack "cross-project training: retrain the victim's project without a relation" "42501 project" "$(refused rf_trainer "SELECT * FROM pgml.train('rf_theirs')")"
attack "cross-project deploy by strategy" "42501 project" "$(refused rf_trainer "SELECT * FROM pgml.deploy('rf_owned', 'most_recent')")"
theirs_model=$("${Q[@]}" -d rf_priv -c "SELECT max(id) FROM pgml.models WHERE project_id = (SELECT id FROM pgml.projects WHERE name = 'rf_theirs')")
attack "cross-project deploy by model id" "42501 project" "$(refused rf_trainer "SELECT * FROM pgml.deploy($theirs_model)")"
attack "deploying another project's model into its own: INSERT INTO pgml.deployments" 42501 "$(as_role rf_trainer \
  -c "INSERT INTO pgml.deployments (project_id, model_id, strategy) SELECT id, $theirs_model, 'specific' FROM pgml.projects WHERE name = 'rf_attacker'")"
attack "drop the victim's project" "42501 project" "$(refused rf_trainer "SELECT pgml.drop_project('rf_theirs')")"
attack "grant itself a privilege on the victim's project" "42501 project" "$(refused rf_trainer "SELECT pgml.grant_project('rf_theirs', 'train', 'rf_trainer')")"
attack "take the victim's project over" "42501 project" "$(refused rf_trainer "SELECT pgml.alter_project_owner('rf_theirs', 'rf_trainer')")"
# Even a deployment row pairing a project with another project's model (only a superuser
# could write one) serves nothing: deployed() joins the model on its project.
mixed=$("${Q[@]}" -d rf_priv -c '\set VERBOSITY verbose' -c "BEGIN" \
  -c "INSERT INTO pgml.deployments (project_id, model_id, strategy) SELECT id, $theirs_model, 'specific' FROM pgml.projects WHERE name = 'rf_owned'" \
  -c "SET LOCAL pgml.shared_cache = off" -c "$PREDICT" -c "ROLLBACK" 2>&1 | grep -o -m1 -E 'ERROR:  [0-9A-Z]{5}' | awk '{print $2}')
attack "a deployment row naming another project's model is not served" 42704 "$mixed"

# 5. The argument-less retrain as a trojan: the owner grants train to a role, which trains
# the project on its view that records who reads it; the owner's retrain must not read it.
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U rf_victim -d rf_priv -c "SELECT pgml.grant_project('rf_theirs', 'train', 'rf_trainer')" >/dev/null
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U rf_trainer -d rf_priv -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE FUNCTION public.spy(real) RETURNS real LANGUAGE plpgsql VOLATILE AS
  $$BEGIN INSERT INTO public.ran_as VALUES (current_user); RETURN $1; END$$;
CREATE VIEW public.bait AS SELECT public.spy(alcohol) AS alcohol, malic_acid, ash, alcalinity_of_ash, magnesium,
  total_phenols, flavanoids, nonflavanoid_phenols, proanthocyanins, color_intensity, hue,
  od280_od315_of_diluted_wines, proline, target FROM public.wine;
GRANT SELECT ON public.bait TO PUBLIC;
SELECT count(*) FROM pgml.train('rf_theirs', relation_name => 'public.bait', automatic_deploy => false);
TRUNCATE public.ran_as;
SQL
baseline
attack "retrain trojan: the owner's retrain without a relation after another role trained on its view" 42501 \
  "$(as_role rf_victim -c "SELECT * FROM pgml.train('rf_theirs')")"
attack "retrain trojan: ... by a superuser" 42501 "$(as_role pgml -c "SELECT * FROM pgml.train('rf_theirs')")"
check "attack: retrain trojan: the view's function never ran as another role" "$("${Q[@]}" -d rf_priv -c "SELECT count(*) FROM public.ran_as")" "0"

# 5b. A planted exact name: the attacker's view public."public.secret" (it may create in
# public) must not stand in for public.secret, which the superuser's retrain of rf_owned
# reads (its own relation, so the retrain is allowed).
as_role rf_trainer -c "CREATE TABLE public.diab (age real, sex real, bmi real, bp real, s1 real, s2 real, s3 real, s4 real, s5 real, s6 real, target real)" \
    -c "CREATE VIEW public.\"public.secret\" AS SELECT public.spy(age) AS age, sex, bmi, bp, s1, s2, s3, s4, s5, s6, target FROM public.diab" \
    -c "GRANT SELECT ON public.\"public.secret\" TO PUBLIC" >/dev/null
check "attack: a planted view named \"public.secret\" exists" "$("${Q[@]}" -d rf_priv -c "SELECT count(*) FROM pg_class WHERE relname = 'public.secret'")" "1"
"${Q[@]}" -d rf_priv -c "SELECT count(*) FROM pgml.train('rf_owned', automatic_deploy => false)" >/dev/null
check "attack: planted dotted name: the superuser's retrain read public.secret, not the view" \
  "$("${Q[@]}" -d rf_priv -c "SELECT s.relation_name FROM pgml.models m JOIN pgml.snapshots s ON s.id = m.snapshot_id WHERE m.project_id = (SELECT id FROM pgml.projects WHERE name = 'rf_owned') ORDER BY m.id DESC LIMIT 1")|$("${Q[@]}" -d rf_priv -c "SELECT count(*) FROM public.ran_as")" "public.secret|0"
ATTACKS+=("| a view named \"public.secret\" planted beside public.secret, then the owner's retrain without a relation | read public.secret (dotted names are always schema.table); the view's function never ran |")

# 5c. Squatting a project name: the attacker creates a project and grants train on it to
# PUBLIC, so that a victim's first training under that name would land in it.
as_role rf_trainer -c "SELECT count(*) FROM pgml.train('rf_squat', 'regression', 'public.wine', 'target', 'linear')" \
  -c "SELECT pgml.grant_project('rf_squat', 'train', 'PUBLIC')" >/dev/null
baseline
attack "squatting: the victim's pgml.train with a task under the attacker's project name" 42710 \
  "$(as_role rf_victim -c "SELECT * FROM pgml.train('rf_squat', 'regression', 'public.theirs', 'target', 'linear')")"
# (A PUBLIC grant shows the project to every role: taken back so the reads below count only
# what the grants of privileges.sh allow.)
as_role rf_trainer -c "SELECT pgml.revoke_project('rf_squat', 'train', 'PUBLIC')" >/dev/null
baseline

# 5d. A member of the role that trained a project (a group's peer) retraining it without a
# relation: only that role itself may.
"${Q[@]}" -d rf_priv -c "GRANT rf_trainer TO rf_member" >/dev/null
attack "a member of the training role retrains its project without a relation" 42501 \
  "$(as_role rf_member -c "SELECT * FROM pgml.train('rf_attacker')")"
"${Q[@]}" -d rf_priv -c "REVOKE rf_trainer FROM rf_member" >/dev/null

# 6. Parameter injection: every string-valued hyperparameter of every library, with a value
# that would add a parameter, name a file or set threads.
injections=0 injected=0
while IFS='|' read -r algorithm name; do
  for value in 'gbdt max_depth=1' 'x\tnum_threads=100000' '../../etc/passwd' 'a=b'; do
    injections=$((injections + 1))
    got=$(as_role rf_trainer -c "SELECT * FROM pgml.train('rf_attacker_inj', 'classification', 'public.wine', 'target', '$algorithm', pg_catalog.jsonb_build_object('$name', E'$value'))")
    [ "$got" = 22023 ] || { injected=$((injected + 1)); echo "FAIL: $algorithm $name = $value: $got" >&2; }
  done
done < <("${Q[@]}" -d rf_priv -F '|' -c "SELECT algorithm, name FROM pgml.hyperparameters() WHERE kind IN ('string', 'any')")
params=$("${Q[@]}" -d rf_priv -c "SELECT count(*) FROM pgml.hyperparameters() WHERE kind IN ('string', 'any')")
check "attack: parameter injection: string-valued hyperparameters found" "$([ "$params" -gt 10 ] && echo yes)" "yes"
check "attack: parameter injection: refused by pgml's own check, not the library" "$(value_as rf_trainer \
  -c "SELECT * FROM pgml.train('rf_attacker_inj', 'classification', 'public.wine', 'target', 'lightgbm', '{\"boosting\": \"gbdt max_depth=1\"}')" | grep -c 'key of its own')" "1"
check "attack: parameter injection: every string-valued hyperparameter refused (22023)" "$injected" "0"
check "attack: parameter injection: nothing changed" "$(state)" "$before"
ATTACKS+=("| parameter injection: $injections tries, 4 values into each of $params string-valued hyperparameters of every library (pgml.hyperparameters()) | $([ "$injected" = 0 ] && echo "22023 each" || echo "$injected accepted") |")

# 7. Reading another project's model bytes or statistics: a role with the predict privilege
# on rf_owned, the attacker (a trainer) and a role with no privilege.
readable() { value_as "$1" -c "SELECT (SELECT count(*) FROM pgml.files) || ' files, ' || (SELECT count(*) FROM pgml.snapshots) || ' snapshots, ' || (SELECT count(*) FROM pgml.models) || ' models, ' || (SELECT count(*) FROM pgml.projects) || ' projects'"; }
owned_models=$("${Q[@]}" -d rf_priv -c "SELECT count(*) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'rf_owned'")
attack "read the catalog with the predict privilege on one project (rf_app)" "0 files, 0 snapshots, $owned_models models, 1 projects" "$(readable rf_app)"
attack "read the catalog with no privilege (rf_nobody)" "0 files, 0 snapshots, 0 models, 0 projects" "$(readable rf_nobody)"
attack "read the victim's bytes and statistics as a trainer with train on its project" "0" "$(value_as rf_trainer -c "SELECT count(*) FROM pgml.files f JOIN pgml.models m ON m.id = f.model_id JOIN pgml.projects p ON p.id = m.project_id WHERE p.owner <> 'rf_trainer'::regrole")"
attack "read the victim's materialized rows (pgml.snapshot_$VSNAP)" 42501 "$(as_role rf_trainer -c "SELECT count(*) FROM pgml.snapshot_$VSNAP")"
attack "read a project's snapshot statistics through pgml.overview with the predict privilege" "rf_owned (relation_name hidden)" "$(value_as rf_app -c "SELECT name || ' (relation_name ' || coalesce(relation_name, 'hidden') || ')' FROM pgml.overview")"

# 8. Row-level security on the catalog, and the caches: a role sees and is served exactly
# the projects it holds a privilege on, also with the model in shared memory and in its
# backend after SET ROLE.
"${Q[@]}" -d rf_priv -c "SELECT pgml.predict('rf_theirs', $WROW)" >/dev/null
attack "predict another project, model in the shared cache" "42501 project" "$(refused rf_app "SELECT pgml.predict('rf_theirs', $WROW)")"
attack "predict another project after SET ROLE in a backend that had it loaded" 42501 \
  "$(value_as pgml -c '\set VERBOSITY verbose' -c "SELECT pgml.predict('rf_theirs', $WROW)" -c "SET ROLE rf_app" -c "SELECT pgml.predict('rf_theirs', $WROW)" | grep -o -m1 -E 'ERROR:  [0-9A-Z]{5}' | awk '{print $2}')"
ids=$("${Q[@]}" -d rf_priv -c "SELECT string_agg(id::text, ',' ORDER BY name) FROM pgml.projects WHERE name IN ('rf_owned', 'rf_theirs')")
rls=$(value_as rf_app -c "SELECT (SELECT string_agg(name, ',') FROM pgml.deployed_models) || ' / ' ||
  (SELECT string_agg(pgml.has_project_privilege(i, 'predict')::text, ',' ORDER BY o) FROM unnest('{$ids}'::bigint[]) WITH ORDINALITY u(i, o))")
attack "deployed_models, and has_project_privilege on rf_owned and rf_theirs, for a role with one grant" "rf_owned / true,false" "$rls"
revoked=$(value_as rf_app -c "SELECT pgml.predict('rf_owned', $ROW)" \
  -c "\\! $PGBIN/psql -X -q -h 127.0.0.1 -p $PORT -U pgml -d rf_priv -c \"SELECT pgml.revoke_project('rf_owned', 'predict', 'rf_app')\" >/dev/null" \
  -c "SELECT pgml.predict('rf_owned', $ROW)" -c "SELECT count(*) FROM pgml.projects" 2>&1 || true)
"${Q[@]}" -d rf_priv -c "SELECT pgml.grant_project('rf_owned', 'predict', 'rf_app')" >/dev/null
check "attack: a warm session whose predict privilege is revoked: refused next, and sees no project" \
  "$(sed -n 1p <<< "$revoked")|$(grep -c 'may not predict' <<< "$revoked")|$(tail -n 1 <<< "$revoked")" "$owner|1|0"
ATTACKS+=("| a warm session (model cached) whose predict privilege another session revokes | refused on its next predict (42501); sees 0 projects |")

# 9. The cache-invalidating trigger function on a table of the attacker's, even if a
# superuser granted EXECUTE on it by mistake: it refuses to fire there.
"${Q[@]}" -d rf_priv -c "GRANT EXECUTE ON FUNCTION pgml.deployments_changed() TO rf_trainer" >/dev/null
attack "trigger function on a foreign table (EXECUTE granted by mistake)" 42501 "$(as_role rf_trainer \
  -c "CREATE TABLE mine_fired (a int)" -c "CREATE TRIGGER t AFTER INSERT ON mine_fired EXECUTE FUNCTION pgml.deployments_changed()" \
  -c "INSERT INTO mine_fired VALUES (1)")"
"${Q[@]}" -d rf_priv -c "REVOKE EXECUTE ON FUNCTION pgml.deployments_changed() FROM rf_trainer" >/dev/null
{
  echo
  echo "| attack (as a role with README's grants) | result |"
  echo "|---|---|"
  printf '%s\n' "${ATTACKS[@]}"
} >> "$WORK/figures.md"
figure "every attack above failed for the attacker, and after each the catalog (every row of pgml's tables, the schema's objects and owners, the materialized rows) and both victims' predictions were unchanged (an md5 over them)"
