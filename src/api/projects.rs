//! Projects as owned objects: privileges, owner, drop (README.md, section Privileges).

use crate::catalog;
use crate::error::OrReport;
use pgrx::prelude::*;

/// Grants `privilege` ('predict' or 'train') on a project to a role (or PUBLIC); only its
/// owner may. False when the role held it already.
#[pg_extern(volatile, parallel_unsafe)]
fn grant_project(project_name: &str, privilege: &str, role: &str) -> bool {
    catalog::grant_privilege(project_name, privilege, role).or_report()
}

/// Takes a grant back; false when there was none.
#[pg_extern(volatile, parallel_unsafe)]
fn revoke_project(project_name: &str, privilege: &str, role: &str) -> bool {
    catalog::revoke_privilege(project_name, privilege, role).or_report()
}

/// Hands a project to another role (one the caller is a member of, as ALTER ... OWNER TO).
#[pg_extern(volatile, parallel_unsafe)]
fn alter_project_owner(project_name: &str, new_owner: &str) {
    catalog::alter_owner(project_name, new_owner).or_report()
}

/// Deletes a project with its models, deployments, grants and unshared snapshots; only its
/// owner may. Returns the number of models deleted.
#[pg_extern(volatile, parallel_unsafe)]
fn drop_project(project_name: &str) -> i64 {
    catalog::drop_project(project_name).or_report()
}

/// Whether the current role holds `privilege` ('predict', 'train' or 'owner') on the
/// project (row-level security on pgml's catalog asks this).
#[pg_extern(stable, parallel_restricted, strict)]
fn has_project_privilege(project_id: i64, privilege: &str) -> bool {
    catalog::has_project_privilege(project_id, privilege).or_report()
}

/// The same for the project a model belongs to.
#[pg_extern(stable, parallel_restricted, strict)]
fn has_model_privilege(model_id: i64, privilege: &str) -> bool {
    catalog::has_model_privilege(model_id, privilege).or_report()
}

/// Whether the current role may read a snapshot: it took it, or may train a project whose
/// models were trained on it.
#[pg_extern(stable, parallel_restricted, strict)]
fn has_snapshot_privilege(snapshot_id: i64) -> bool {
    catalog::has_snapshot_privilege(snapshot_id).or_report()
}
