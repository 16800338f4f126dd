# The reliability suite, part 5: the catalog audit, run last, over every database of the
# suite's cluster that has pgml (after the bad-input corpus, the faults, the privilege tests
# and the attacks ran in them); then a pg_dump / pg_restore round trip of the attacks'
# database under the ownership model. Sourced by run.sh.

section "Catalog audit"
# The functions PUBLIC may execute: serving, vectors, the project functions (each checks the
# caller's privilege on the project) and introspection. Training, snapshots and datasets are
# granted by the DBA; the trigger function by nobody. A new function fails this check until
# it is listed here, on purpose.
PUBLIC_FUNCTIONS="add alter_project_owner avg avg_accum avg_final cache_info cosine_distance cosine_similarity decompose deploy distance_l1 distance_l2 divide dot_product drop_project grant_project has_model_privilege has_project_privilege has_snapshot_privilege hyperparameters key_metric max maximum min minimum multiply norm_l0 norm_l1 norm_l2 norm_max normalize_l1 normalize_l2 normalize_max predict predict_batch predict_joint predict_label predict_proba revoke_project subtract sum training_progress_rows version versions"
audit_sql="
WITH ext AS (SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'pgml'),
     ns AS (SELECT 'pgml'::pg_catalog.regnamespace AS oid)
SELECT pg_catalog.concat_ws(E'\n',
  (SELECT pg_catalog.string_agg(DISTINCT p.proname, ' ' ORDER BY p.proname) FROM pg_catalog.pg_proc p, ns
    WHERE p.pronamespace = ns.oid AND (p.proacl IS NULL OR EXISTS
      (SELECT 1 FROM pg_catalog.aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))),
  'secdef ' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc p, ns WHERE p.pronamespace = ns.oid AND p.prosecdef),
  'secdef unpinned ' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc p, ns WHERE p.pronamespace = ns.oid AND p.prosecdef
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')),
  'foreign owners ' || (SELECT pg_catalog.count(*) FROM (
      SELECT relowner AS owner FROM pg_catalog.pg_class, ns WHERE relnamespace = ns.oid
      UNION ALL SELECT proowner FROM pg_catalog.pg_proc, ns WHERE pronamespace = ns.oid
      UNION ALL SELECT typowner FROM pg_catalog.pg_type, ns WHERE typnamespace = ns.oid
      UNION ALL SELECT oprowner FROM pg_catalog.pg_operator, ns WHERE oprnamespace = ns.oid
      UNION ALL SELECT nspowner FROM pg_catalog.pg_namespace n, ns WHERE n.oid = ns.oid) o, ext WHERE o.owner <> ext.extowner),
  'schema create ' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_namespace n, ns,
      pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
      WHERE n.oid = ns.oid AND a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner),
  'catalog writers ' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c, ns,
      pg_catalog.aclexplode(COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
      WHERE c.relnamespace = ns.oid AND c.relkind IN ('r', 'S') AND a.grantee <> c.relowner
        AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES', 'USAGE')),
  'snapshot readers ' || (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c, ns,
      pg_catalog.aclexplode(COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
      WHERE c.relnamespace = ns.oid AND c.relname LIKE 'snapshot\_%' AND a.grantee <> c.relowner
        AND a.grantee NOT IN (SELECT s.owner FROM pgml.snapshots s WHERE 'snapshot_' || s.id = c.relname)))"
audited=0
for db in $("${Q[@]}" -d pgml -c "SELECT datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY 1"); do
  [ "$("${Q[@]}" -d "$db" -c "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'pgml'")" = 1 ] || continue
  audited=$((audited + 1))
  out=$("${Q[@]}" -d "$db" -c "$audit_sql")
  check "audit $db: functions PUBLIC may execute" "$(sed -n 1p <<< "$out")" "$PUBLIC_FUNCTIONS"
  check "audit $db: SECURITY DEFINER functions without a pinned search_path" "$(sed -n 3p <<< "$out")" "secdef unpinned 0"
  check "audit $db: objects in schema pgml not owned by the extension owner" "$(sed -n 4p <<< "$out")" "foreign owners 0"
  check "audit $db: CREATE on schema pgml held by another role" "$(sed -n 5p <<< "$out")" "schema create 0"
  check "audit $db: write privileges on pgml's tables and sequences held by another role" "$(sed -n 6p <<< "$out")" "catalog writers 0"
  check "audit $db: materialized snapshots readable by another role than the one that took them" "$(sed -n 7p <<< "$out")" "snapshot readers 0"
done
figure "$audited databases audited after the whole suite: the functions PUBLIC may execute are exactly: $PUBLIC_FUNCTIONS (train, train_joint, snapshot, load_dataset and the trigger function deployments_changed are not among them); SECURITY DEFINER functions: 0; objects (tables, views, sequences, materialized snapshots, functions, types, operators, the schema) in schema pgml owned by another role than the extension owner: 0; CREATE on the schema and INSERT / UPDATE / DELETE / TRUNCATE / TRIGGER / REFERENCES / USAGE on its tables and sequences held by another role: 0; materialized snapshots readable by any role but the one that took them: 0"

section "pg_dump / pg_restore under the ownership model"
"${Q[@]}" -d pgml -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS rf_priv_copy" >/dev/null
"$PGBIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U pgml -Fc -f "$WORK/rf_priv.dump" rf_priv
"${Q[@]}" -d pgml -c "CREATE DATABASE rf_priv_copy" >/dev/null
restored=$("$PGBIN/pg_restore" -h 127.0.0.1 -p "$PORT" -U pgml --exit-on-error -d rf_priv_copy "$WORK/rf_priv.dump" 2>&1 && echo ok || echo failed)
check "pg_restore of rf_priv" "$(tail -n 1 <<< "$restored")" "ok"
ownership="SELECT (SELECT string_agg(name || ':' || owner::text, ',' ORDER BY name) FROM pgml.projects) || ' / ' ||
  (SELECT string_agg(p.name || ':' || g.grantee::text || ':' || g.privilege, ',' ORDER BY p.name, g.grantee::text, g.privilege) FROM pgml.project_privileges g JOIN pgml.projects p ON p.id = g.project_id) || ' / ' ||
  (SELECT string_agg(c.relname || ':' || c.relowner::regrole::text || ':' || coalesce(c.relacl, acldefault('r', c.relowner))::text, ',' ORDER BY c.relname)
     FROM pg_catalog.pg_class c WHERE c.relnamespace = 'pgml'::regnamespace AND c.relname LIKE 'snapshot\_%')"
check "restored: owners, grants and materialized snapshots' owners and ACLs" \
  "$("${Q[@]}" -d rf_priv_copy -c "$ownership")" "$("${Q[@]}" -d rf_priv -c "$ownership")"
served() { "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U "$1" -d "$2" -c "$3" 2>&1; }
check "restored: the serving role predicts as before" "$(served rf_app rf_priv_copy "$PREDICT")" "$(served rf_app rf_priv "$PREDICT")"
check "restored: the victim predicts its project as before" \
  "$(served rf_victim rf_priv_copy "SELECT pgml.predict('rf_theirs', $WROW)")" "$(served rf_victim rf_priv "SELECT pgml.predict('rf_theirs', $WROW)")"
check "restored: a role without a grant is still refused" \
  "$("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U rf_nobody -d rf_priv_copy -c '\set VERBOSITY verbose' -c "$PREDICT" 2>&1 |
     grep -o -m1 -E 'ERROR:  [0-9A-Z]{5}' | awk '{print $2}')" "42501"
check "restored: the snapshot's owner reads its materialized copy, and retrains" \
  "$(served rf_victim rf_priv_copy "SELECT count(*) FROM pgml.snapshot_$VSNAP")" "$(served rf_victim rf_priv "SELECT count(*) FROM pgml.snapshot_$VSNAP")"
figure "pg_dump -Fc of the attacks' database and pg_restore into a new one: project owners, grants (pgml.project_privileges) and the materialized snapshots' owner and ACL restored identical ($("${Q[@]}" -d rf_priv_copy -c "SELECT count(*) FROM pgml.projects") projects, $("${Q[@]}" -d rf_priv_copy -c "SELECT count(*) FROM pgml.project_privileges") grants); the serving role's and the victim's predictions identical, a role without a grant still refused (42501)"
"${Q[@]}" -d pgml -c "DROP DATABASE rf_priv_copy" >/dev/null
