//! Every statement that reads or writes the pgml.* tables. Nothing else in the crate names
//! them; the tables themselves are defined in sql/schema.sql.

mod acl;
mod projects;
pub mod version;

pub use acl::{acts_as, current_user, role_name, role_oid, Acl, Privilege};
pub use projects::*;

use crate::error::{Error, Result};
use pgml_core::bindings::Task;
use pgml_core::data::preprocess::Pipeline;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::JsonB;
use serde_json::{Map, Value};
use std::ffi::CStr;

/// Model bytes are split into parts of this size: bytea values stay far below Postgres's
/// 1 GB limit and TOAST handles each part separately.
const FILE_PART_BYTES: usize = 64 << 20;

pub struct Project {
    pub id: i64,
    pub name: String,
    pub task: Task,
    pub acl: Acl,
}

impl Project {
    /// The current role holds `privilege` on this project, or the error saying who can grant it.
    pub fn check(&self, privilege: Privilege, action: &'static str) -> Result<()> {
        self.acl.check(&self.name, privilege, action)
    }
}

/// The select-list items that give a project's [`Acl`] (owner, grantees, privileges: see
/// [`acl_of`]), for a query where `p` is the pgml.projects row.
/// Roles that no longer exist count for nothing (regrole columns hold OIDs and keep no
/// dependency: DROP ROLE leaves them behind): their grants are skipped and a dropped owner
/// is no owner, so a later role that happened to get the same OID inherits nothing.
const ACL_ITEMS: &str = "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) p.owner::pg_catalog.oid)
         THEN p.owner::pg_catalog.oid::pg_catalog.int8 ELSE 0 END,
    ARRAY(SELECT g.grantee::pg_catalog.oid::pg_catalog.int8 FROM pgml.project_privileges g
           WHERE g.project_id = p.id AND (g.grantee::pg_catalog.oid OPERATOR(pg_catalog.=) 0 OR EXISTS
                 (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) g.grantee::pg_catalog.oid))
           ORDER BY g.grantee::pg_catalog.oid, g.privilege),
    ARRAY(SELECT g.privilege FROM pgml.project_privileges g
           WHERE g.project_id = p.id AND (g.grantee::pg_catalog.oid OPERATOR(pg_catalog.=) 0 OR EXISTS
                 (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) g.grantee::pg_catalog.oid))
           ORDER BY g.grantee::pg_catalog.oid, g.privilege)";

/// The Acl from the three [`ACL_ITEMS`] columns starting at `first` (1-based).
fn acl_of(row: &pgrx::spi::SpiTupleTable<'_>, first: usize) -> Result<Acl> {
    let owner = row.get::<i64>(first)?.unwrap_or_default();
    let grantees = row.get::<Vec<i64>>(first + 1)?.unwrap_or_default();
    let privileges = row.get::<Vec<String>>(first + 2)?.unwrap_or_default();
    let grants = grantees
        .into_iter()
        .zip(privileges)
        .map(|(g, p)| Ok((g as u32, Privilege::parse(&p)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Acl {
        owner: owner as u32,
        grants,
    })
}

fn task_of(s: Option<String>) -> Result<Task> {
    let s = s.unwrap_or_default();
    Task::parse(&s).ok_or(Error::Spi(format!("unknown task {s} in pgml.projects")))
}

/// Runs `f` with `search_path` set to `pg_catalog, pg_temp`, as a function's own
/// `SET search_path` clause would (a GUC nest level, undone on return; on an error the
/// (sub)transaction's abort undoes it). Every unqualified operator, cast and function in
/// the statements run meanwhile then resolves in pg_catalog, whatever schemas a caller put
/// first on their search_path. Not a `SET` clause on the SQL functions themselves: that
/// costs every call (fmgr_security_definer), predict's included, and would also apply to the
/// user's relation, whose views may call functions that rely on the caller's search_path.
pub(crate) fn pinned_search_path<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                // SAFETY: the level opened below, in this backend, still the innermost.
                unsafe { pg_sys::AtEOXact_GUC(true, self.0) };
            }
        }
    }
    // SAFETY: inside a transaction (a SQL function is running); search_path is PGC_USERSET,
    // and elevel 0 makes a bad value an ERROR (it is a constant).
    let _restore = unsafe {
        let nest = pg_sys::NewGUCNestLevel();
        let restore = Restore(nest);
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        restore
    };
    f()
}

/// Reads through SPI under [`pinned_search_path`], as the catalog's owner
/// ([`acl::as_catalog_owner`]): every catalog statement goes through here or [`returning`].
fn read<R>(f: impl FnOnce(&SpiClient<'_>) -> Result<R>) -> Result<R> {
    version::check()?;
    acl::as_catalog_owner(|| pinned_search_path(|| Spi::connect(f)))
}

/// A mutating statement whose first column of the first row is returned.
fn returning<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Result<Option<T>> {
    version::check()?;
    acl::as_catalog_owner(|| {
        pinned_search_path(|| {
            Spi::connect_mut(|client| {
                // No row limit: with one, the executor stops at the first RETURNING row and never
                // finishes the INSERT, so AFTER STATEMENT triggers (our cache invalidation) never fire.
                let table = client.update(sql, None, args)?;
                if table.is_empty() {
                    return Ok(None);
                }
                Ok(table.first().get_one::<T>()?)
            })
        })
    })
}

pub fn project(name: &str) -> Result<Option<Project>> {
    read(|client| {
        let table = client.select(
            &format!(
                "SELECT p.id, p.task::text, {ACL_ITEMS} FROM pgml.projects p WHERE p.name = $1"
            ),
            Some(1),
            &[name.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let row = table.first();
        let (id, task) = row.get_two::<i64, String>()?;
        Ok(Some(Project {
            id: id.unwrap_or_default(),
            name: name.to_string(),
            task: task_of(task)?,
            acl: acl_of(&row, 3)?,
        }))
    })
}

/// Returns the project, creating it with `task`, owned by the current role, if it does not
/// exist. Safe when two sessions create the same project at once (the loser reads the
/// winner's row, and its privileges are checked on it).
pub fn project_or_create(name: &str, task: Task) -> Result<Project> {
    let owner = current_user();
    returning::<i64>(
        "INSERT INTO pgml.projects (name, task, owner) VALUES ($1, $2::pgml.task, $3::pg_catalog.oid::pg_catalog.regrole)
         ON CONFLICT (name) DO NOTHING RETURNING id",
        &[name.into(), task.as_str().into(), owner.into()],
    )?;
    project(name)?.ok_or_else(|| Error::UnknownProject(name.to_string()))
}

pub struct NewSnapshot<'a> {
    pub relation_name: &'a str,
    /// The label columns; empty for clustering and decomposition.
    pub y_column_name: Vec<String>,
    pub test_size: f32,
    pub test_sampling: &'a str,
    pub columns: Value,
    pub analysis: Value,
    /// Set when the rows were copied into pgml.snapshot_<id> (whose id was reserved).
    pub materialized: Option<i64>,
}

pub fn insert_snapshot(s: &NewSnapshot) -> Result<i64> {
    returning::<i64>(
        "INSERT INTO pgml.snapshots (id, relation_name, y_column_name, test_size, test_sampling, status, columns, analysis, materialized, owner)
         VALUES (COALESCE($7, pg_catalog.nextval('pgml.snapshots_id_seq')), $1, $2, $3, $4::pgml.sampling, 'successful', $5, $6, $7 IS NOT NULL,
                 $8::pg_catalog.oid::pg_catalog.regrole)
         RETURNING id",
        &[
            s.relation_name.into(),
            s.y_column_name.clone().into(),
            s.test_size.into(),
            s.test_sampling.into(),
            JsonB(s.columns.clone()).into(),
            JsonB(s.analysis.clone()).into(),
            s.materialized.into(),
            current_user().into(),
        ],
    )?
    .ok_or_else(|| Error::Spi("snapshot insert returned no id".into()))
}

/// A statement of pgml's own (DDL, GRANT) run as the catalog's owner.
fn execute(sql: &str) -> Result<()> {
    version::check()?;
    acl::as_catalog_owner(|| pinned_search_path(|| Ok(Spi::run(sql)?)))
}

/// Copies `relation` (quoted, qualified) into a new table pgml.snapshot_<id> under a
/// reserved snapshot id, in this transaction; returns the id and the table.
///
/// The table belongs to the catalog's owner, so no other role can alter, replace or drop it
/// (nor redirect a retrain through it); the role taking the snapshot fills it with its own
/// privileges (INSERT granted for the copy only) and keeps SELECT on it, which a retrain
/// reads it with. The columns are declared from the relation's catalog entry rather than by
/// `CREATE TABLE AS`, which would plan the user's query (and could run its functions) as the
/// catalog's owner.
pub fn materialize(relation: &str) -> Result<(i64, String)> {
    let id = returning::<i64>("SELECT pg_catalog.nextval('pgml.snapshots_id_seq')", &[])?
        .ok_or_else(|| Error::Spi("nextval returned nothing".into()))?;
    let table = format!("pgml.snapshot_{id}");
    let columns = read(|client| {
        Ok(client
            .select(
                "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' ' ||
                        pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                   FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = $1::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped",
                Some(1),
                &[relation.into()],
            )?
            .first()
            .get_one::<String>()?
            .unwrap_or_default())
    })?;
    // Nobody's default privileges reach it: only the role taking the snapshot may read it.
    execute(&format!("CREATE TABLE {table} ({columns})"))?;
    execute(&format!("REVOKE ALL ON {table} FROM PUBLIC"))?;
    let user = current_user();
    // SAFETY: a syscache read.
    let grant = user != acl::catalog_owner()? && !unsafe { pg_sys::superuser_arg(user) };
    let role = pgrx::spi::quote_identifier(role_name(user));
    if grant {
        execute(&format!("GRANT SELECT, INSERT ON {table} TO {role}"))?;
    }
    // As the caller, and not pinned: it reads the user's relation, and a view may call
    // functions that resolve names through the caller's search_path. The statement itself
    // names nothing unqualified.
    Spi::run(&format!("INSERT INTO {table} SELECT * FROM {relation}"))?;
    if grant {
        execute(&format!("REVOKE INSERT ON {table} FROM {role}"))?;
    }
    Ok((id, table))
}

/// The project's most recent training run: (relation, label columns, the role that trained
/// it). A materialized snapshot's relation is its copy, so a retrain reads the same rows.
pub fn last_snapshot(project_id: i64) -> Result<Option<(String, Vec<String>, pg_sys::Oid)>> {
    read(|client| {
        let table = client.select(
            "SELECT CASE WHEN s.materialized THEN 'pgml.snapshot_' || s.id ELSE s.relation_name END,
                    s.y_column_name, m.trained_by::pg_catalog.oid
               FROM pgml.models m JOIN pgml.snapshots s ON s.id = m.snapshot_id
              WHERE m.project_id = $1 ORDER BY m.id DESC LIMIT 1",
            Some(1),
            &[project_id.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let row = table.first();
        let (r, y) = row.get_two::<String, Vec<String>>()?;
        let by = row.get::<pg_sys::Oid>(3)?.unwrap_or(pg_sys::InvalidOid);
        Ok(Some((r.unwrap_or_default(), y.unwrap_or_default(), by)))
    })
}

pub struct NewModel<'a> {
    pub project_id: i64,
    pub snapshot_id: i64,
    pub num_features: usize,
    pub algorithm: &'a str,
    pub hyperparams: Value,
    pub metrics: Map<String, Value>,
    pub classes: Option<Vec<f32>>,
    /// The label of each class, in the same order (the text of a text label).
    pub class_labels: Option<Vec<String>>,
    /// Values predicted per row: 1, or the targets of a joint regression.
    pub num_targets: usize,
    /// What serves it (tree ensembles: native trees or the library, and why).
    pub evaluator: Option<String>,
    pub bytes: Vec<u8>,
}

/// Stores a successful model and its bytes; returns its id.
pub fn insert_model(m: NewModel) -> Result<i64> {
    let id = returning::<i64>(
        "INSERT INTO pgml.models (project_id, snapshot_id, num_features, algorithm, hyperparams, status, metrics, classes, num_targets, class_labels, evaluator, trained_by)
         VALUES ($1, $2, $3, $4::pgml.algorithm, $5, 'successful', $6, $7, $8, $9, $10, $11::pg_catalog.oid::pg_catalog.regrole) RETURNING id",
        &[
            m.project_id.into(),
            m.snapshot_id.into(),
            (m.num_features as i32).into(),
            m.algorithm.into(),
            JsonB(m.hyperparams).into(),
            JsonB(Value::Object(m.metrics)).into(),
            m.classes.into(),
            (m.num_targets as i32).into(),
            m.class_labels.into(),
            m.evaluator.into(),
            current_user().into(),
        ],
    )?
    .ok_or_else(|| Error::Spi("model insert returned no id".into()))?;
    for (part, chunk) in m.bytes.chunks(FILE_PART_BYTES).enumerate() {
        returning::<i64>(
            "INSERT INTO pgml.files (model_id, path, part, data) VALUES ($1, 'model', $2, $3) RETURNING id",
            &[id.into(), (part as i32).into(), chunk.into()],
        )?;
    }
    Ok(id)
}

/// The key metric (r2 or f1, as a number) of the project's deployed model, if any.
pub fn deployed_key_metric(project_id: i64) -> Result<Option<Option<f64>>> {
    read(|client| {
        let table = client.select(
            "SELECT pgml.key_metric(p.task, m.metrics)
               FROM pgml.deployments d
               JOIN pgml.models m ON m.id = d.model_id
               JOIN pgml.projects p ON p.id = d.project_id
              WHERE d.project_id = $1
              ORDER BY d.id DESC LIMIT 1",
            Some(1),
            &[project_id.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        Ok(Some(table.first().get_one::<f64>()?))
    })
}

/// Deploys `model_id`. The trigger on pgml.deployments queues a relcache invalidation that
/// reaches every other backend when this transaction commits.
pub fn insert_deployment(project_id: i64, model_id: i64, strategy: &str) -> Result<()> {
    returning::<i64>(
        "INSERT INTO pgml.deployments (project_id, model_id, strategy) VALUES ($1, $2, $3::pgml.strategy) RETURNING id",
        &[project_id.into(), model_id.into(), strategy.into()],
    )?;
    // Apply the invalidation to this backend now, not at the end of the calling statement:
    // a predict later in the same statement must see the new deployment. It also moves the
    // message to the list Postgres replays locally if the transaction aborts, so a rolled
    // back deploy un-caches whatever was loaded meanwhile.
    // SAFETY: a plain command boundary inside a volatile function, as SPI itself makes.
    unsafe { pg_sys::CommandCounterIncrement() };
    Ok(())
}

/// (model id, algorithm) chosen by a deployment strategy, optionally among one algorithm.
pub fn choose_model(
    project_id: i64,
    strategy: &str,
    algorithm: Option<&str>,
) -> Result<Option<(i64, String)>> {
    let sql = match strategy {
        "best_score" => {
            "SELECT m.id, m.algorithm::text FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
              WHERE m.project_id = $1 AND m.status = 'successful' AND ($2::text IS NULL OR m.algorithm::text = $2)
              ORDER BY pgml.key_metric(p.task, m.metrics) DESC NULLS LAST, m.id DESC LIMIT 1"
        }
        "most_recent" => {
            "SELECT m.id, m.algorithm::text FROM pgml.models m
              WHERE m.project_id = $1 AND m.status = 'successful' AND ($2::text IS NULL OR m.algorithm::text = $2)
              ORDER BY m.id DESC LIMIT 1"
        }
        // The latest earlier deployment of a model other than the one deployed now.
        "rollback" => {
            "SELECT d.model_id, m.algorithm::text FROM pgml.deployments d JOIN pgml.models m ON m.id = d.model_id
              WHERE d.project_id = $1 AND ($2::text IS NULL OR m.algorithm::text = $2)
                AND d.model_id IS DISTINCT FROM (SELECT c.model_id FROM pgml.deployments c
                                                  WHERE c.project_id = $1 ORDER BY c.id DESC LIMIT 1)
              ORDER BY d.id DESC LIMIT 1"
        }
        other => return Err(Error::UnknownStrategy(other.to_string())),
    };
    read(|client| {
        let table = client.select(sql, Some(1), &[project_id.into(), algorithm.into()])?;
        if table.is_empty() {
            return Ok(None);
        }
        let (id, alg) = table.first().get_two::<i64, String>()?;
        Ok(id.map(|id| (id, alg.unwrap_or_default())))
    })
}

/// (project, algorithm) of a model by id.
pub fn model_project(model_id: i64) -> Result<Option<(Project, String)>> {
    let row = read(|client| -> Result<Option<(String, String)>> {
        let table = client.select(
            "SELECT p.name, m.algorithm::text FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE m.id = $1",
            Some(1),
            &[model_id.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let (name, alg) = table.first().get_two::<String, String>()?;
        Ok(Some((name.unwrap_or_default(), alg.unwrap_or_default())))
    })?;
    match row {
        None => Ok(None),
        Some((name, alg)) => Ok(project(&name)?.map(|p| (p, alg))),
    }
}

/// Everything needed to serve a project's deployed model.
pub struct Deployed {
    pub model_id: i64,
    pub algorithm: String,
    pub task: Task,
    pub num_features: usize,
    pub classes: Vec<f32>,
    pub class_labels: Vec<String>,
    pub num_targets: usize,
    /// How rows become features (from the snapshot's columns).
    pub pipeline: Pipeline,
    pub bytes: Vec<u8>,
    /// OID of pgml.deployments, whose invalidations mark cached models stale.
    pub deployments_oid: pg_sys::Oid,
    /// Who may be served it (Privilege::Predict).
    pub acl: Acl,
}

/// Runs `f` (catalog reads through SPI) with a snapshot taken now, that sees every commit
/// visible at this moment, rather than the statement's (src/serve/shared.rs needs the
/// order: epoch read, then snapshot).
pub fn with_latest_snapshot<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            // Not while unwinding from an ERROR: the (sub)transaction's abort pops the
            // active snapshots itself, and a pop here first would take another's.
            if !std::thread::panicking() {
                // SAFETY: pushed below in this backend, still the active one.
                unsafe { pg_sys::PopActiveSnapshot() };
            }
        }
    }
    // SAFETY: inside a transaction (a SQL function is running).
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetLatestSnapshot()) };
    let _pop = Pop;
    f()
}

pub fn deployed(project_name: &str) -> Result<Deployed> {
    read(|client| {
        let table = client.select(
            &format!("SELECT m.id, m.algorithm::text, p.task::text, m.num_features, m.classes, s.columns,
                    'pgml.deployments'::pg_catalog.regclass::pg_catalog.oid, m.num_targets, m.class_labels,
                    {ACL_ITEMS}
               FROM pgml.projects p
               JOIN LATERAL (SELECT d.model_id FROM pgml.deployments d
                              WHERE d.project_id = p.id ORDER BY d.id DESC LIMIT 1) d ON true
               JOIN pgml.models m ON m.id = d.model_id AND m.project_id = p.id
               LEFT JOIN pgml.snapshots s ON s.id = m.snapshot_id
              WHERE p.name = $1"),
            Some(1),
            &[project_name.into()],
        )?;
        if table.is_empty() {
            let missing = client
                .select(
                    "SELECT 1 FROM pgml.projects WHERE name = $1",
                    Some(1),
                    &[project_name.into()],
                )?
                .is_empty();
            return Err(if missing {
                Error::UnknownProject(project_name.to_string())
            } else {
                Error::NoDeployment(project_name.to_string())
            });
        }
        let row = table.first();
        let model_id = row.get::<i64>(1)?.unwrap_or_default();
        let columns = row.get::<JsonB>(6)?.map(|j| j.0).unwrap_or(Value::Null);
        let pipeline = serde_json::from_value::<Pipeline>(columns)
            .map_err(|e| e.to_string())
            .and_then(|p| p.check_stored().map(|()| p))
            .map_err(|message| {
                Error::Binding(pgml_core::bindings::BindingError::Corrupt {
                    backend: "snapshot columns",
                    message,
                })
            })?;
        // The model's own file, in parts 0, 1, 2, ... as store_model wrote them: a row of
        // another path, or a gap, is not read into the model (a hand-edited catalog).
        let mut bytes = Vec::new();
        let parts = client.select(
            "SELECT part, data FROM pgml.files WHERE model_id = $1 AND path = 'model' ORDER BY part",
            None,
            &[model_id.into()],
        )?;
        for (i, part) in parts.enumerate() {
            if part.get::<i32>(1)? != Some(i as i32) {
                return Err(Error::Binding(pgml_core::bindings::BindingError::Corrupt {
                    backend: "pgml.files",
                    message: format!("model {model_id}: part {i} is missing"),
                }));
            }
            bytes.extend_from_slice(&part.get::<Vec<u8>>(2)?.unwrap_or_default());
        }
        Ok(Deployed {
            model_id,
            algorithm: row.get::<String>(2)?.unwrap_or_default(),
            task: task_of(row.get::<String>(3)?)?,
            num_features: row.get::<i32>(4)?.unwrap_or_default().max(0) as usize,
            classes: row.get::<Vec<f32>>(5)?.unwrap_or_default(),
            num_targets: row.get::<i32>(8)?.unwrap_or(1).max(1) as usize,
            class_labels: row.get::<Vec<String>>(9)?.unwrap_or_default(),
            pipeline,
            bytes,
            deployments_oid: row.get::<pg_sys::Oid>(7)?.unwrap_or(pg_sys::InvalidOid),
            acl: acl_of(&row, 10)?,
        })
    })
}

/// pgml's catalog tables, the ones its trigger function watches.
pub const TABLES: [&CStr; 6] = [
    c"projects",
    c"snapshots",
    c"models",
    c"deployments",
    c"files",
    c"project_privileges",
];

/// Whether `relid` is one of [`TABLES`] in the schema pgml.
pub fn is_catalog_table(relid: pg_sys::Oid) -> bool {
    // SAFETY: syscache reads.
    unsafe {
        let schema = pg_sys::get_namespace_oid(c"pgml".as_ptr(), true);
        schema != pg_sys::InvalidOid
            && pg_sys::get_rel_namespace(relid) == schema
            && TABLES
                .iter()
                .any(|t| pg_sys::get_relname_relid(t.as_ptr(), schema) == relid)
    }
}
