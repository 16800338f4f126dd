//! A project as a whole: its privileges, its owner, dropping it, and what row-level
//! security asks (src/catalog/acl.rs has the model). Each operation checks the caller's
//! privilege, then reads or writes as the catalog's owner.

use super::{
    acl_of, current_user, execute, project, read, returning, role_oid, Acl, Privilege, Project,
    ACL_ITEMS,
};
use crate::error::{Error, Result};
use pgrx::pg_sys;

/// Locks the project's row (FOR SHARE: trainings and deployments run side by side) and
/// checks `privilege` on its ACL as it is now; a grant, revoke or owner change waits for
/// this transaction (it locks the row FOR UPDATE), so what was checked holds until commit.
pub fn lock_and_check(p: &Project, privilege: Privilege, action: &'static str) -> Result<()> {
    locked_acl(p, "FOR SHARE")?.check(&p.name, privilege, action)
}

/// Locks the project's row (`lock`: FOR SHARE or FOR UPDATE, pgml's own text) and reads its
/// ACL as it is now.
fn locked_acl(p: &Project, lock: &'static str) -> Result<Acl> {
    returning::<i64>(
        &format!("SELECT id FROM pgml.projects WHERE id = $1 {lock}"),
        &[p.id.into()],
    )?
    .ok_or_else(|| Error::UnknownProject(p.name.clone()))?;
    project_acl(p.id)?.ok_or_else(|| Error::UnknownProject(p.name.clone()))
}

/// The project's row locked FOR UPDATE, and the caller checked as its owner on the ACL as
/// it is now.
fn lock_as_owner(project: &str, action: &'static str) -> Result<Project> {
    let mut p = existing(project)?;
    // Checked before the lock too: a role that is not the owner must not hold the row, and
    // so every training and deployment of the project, waiting on its own refusal.
    p.check(Privilege::Owner, action)?;
    p.acl = locked_acl(&p, "FOR UPDATE")?;
    p.check(Privilege::Owner, action)?;
    Ok(p)
}

/// pgml.grant_project: the owner grants `privilege` (predict, train) to a role or PUBLIC.
/// Returns false when it was granted already.
pub fn grant_privilege(project: &str, privilege: &str, role: &str) -> Result<bool> {
    let p = lock_as_owner(project, "grant privileges on")?;
    let privilege = Privilege::grantable(privilege)?;
    grant(&p, role_oid(role)?, privilege.as_str())
}

/// pgml.revoke_project; false when there was no such grant.
pub fn revoke_privilege(project: &str, privilege: &str, role: &str) -> Result<bool> {
    let p = lock_as_owner(project, "revoke privileges on")?;
    let privilege = Privilege::grantable(privilege)?;
    revoke(&p, role_oid(role)?, privilege.as_str())
}

/// pgml.alter_project_owner, under Postgres's rule for ALTER ... OWNER TO: the owner (or a
/// superuser) hands the project to a role it is a member of.
pub fn alter_owner(project: &str, role: &str) -> Result<()> {
    let p = lock_as_owner(project, "change the owner of")?;
    let new = role_oid(role)?;
    // SAFETY: a syscache read of memberships (true for a superuser).
    if new == pg_sys::InvalidOid || !unsafe { pg_sys::is_member_of_role(current_user(), new) } {
        return Err(Error::NotMemberOf(role.to_string()));
    }
    set_owner(&p, new)
}

/// pgml.drop_project: the owner deletes a project and everything trained in it.
pub fn drop_project(project: &str) -> Result<i64> {
    let p = lock_as_owner(project, "drop")?;
    drop(&p)
}

/// pgml.has_project_privilege (row-level security's test on the catalog).
pub fn has_project_privilege(project_id: i64, privilege: &str) -> Result<bool> {
    let wanted = Privilege::parse(privilege)?;
    Ok(project_acl(project_id)?.is_some_and(|acl| acl.allows(current_user(), wanted)))
}

/// pgml.has_model_privilege: the privilege on the model's project.
pub fn has_model_privilege(model_id: i64, privilege: &str) -> Result<bool> {
    match model_project_id(model_id)? {
        Some(id) => has_project_privilege(id, privilege),
        None => Ok(false),
    }
}

/// pgml.has_snapshot_privilege: a snapshot (its statistics, its materialized rows' place)
/// is readable by the role that took it and by those that may train a project using it.
pub fn has_snapshot_privilege(snapshot_id: i64) -> Result<bool> {
    let Some((owner, projects)) = snapshot_users(snapshot_id)? else {
        return Ok(false);
    };
    let user = current_user();
    // SAFETY: syscache reads of memberships.
    if unsafe { pg_sys::superuser_arg(user) || pg_sys::has_privs_of_role(user, owner) } {
        return Ok(true);
    }
    for id in projects {
        if has_project_privilege(id, "train")? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The project by id, with its ACL (for row-level security, which sees ids).
fn project_acl(project_id: i64) -> Result<Option<Acl>> {
    read(|client| {
        let table = client.select(
            &format!("SELECT {ACL_ITEMS} FROM pgml.projects p WHERE p.id = $1"),
            Some(1),
            &[project_id.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        Ok(Some(acl_of(&table.first(), 1)?))
    })
}

/// The project a model belongs to.
fn model_project_id(model_id: i64) -> Result<Option<i64>> {
    read(|client| {
        let table = client.select(
            "SELECT project_id FROM pgml.models WHERE id = $1",
            Some(1),
            &[model_id.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        Ok(table.first().get_one::<i64>()?)
    })
}

/// Who took a snapshot, and the projects whose models were trained on it.
fn snapshot_users(snapshot_id: i64) -> Result<Option<(pg_sys::Oid, Vec<i64>)>> {
    read(|client| {
        let table = client.select(
            "SELECT s.owner::pg_catalog.oid,
                    ARRAY(SELECT DISTINCT m.project_id FROM pgml.models m WHERE m.snapshot_id = s.id)
               FROM pgml.snapshots s WHERE s.id = $1",
            Some(1),
            &[snapshot_id.into()],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let row = table.first();
        Ok(Some((
            row.get::<pg_sys::Oid>(1)?.unwrap_or(pg_sys::InvalidOid),
            row.get::<Vec<i64>>(2)?.unwrap_or_default(),
        )))
    })
}

/// Records a grant; false if it was there already.
fn grant(p: &Project, grantee: pg_sys::Oid, privilege: &str) -> Result<bool> {
    let grantor = super::current_user();
    Ok(returning::<i32>(
        "INSERT INTO pgml.project_privileges (project_id, grantee, privilege, grantor)
         VALUES ($1, $2::pg_catalog.oid::pg_catalog.regrole, $3, $4::pg_catalog.oid::pg_catalog.regrole)
         ON CONFLICT DO NOTHING RETURNING 1",
        // As int8: pgrx passes InvalidOid (PUBLIC) as NULL.
        &[p.id.into(), i64::from(u32::from(grantee)).into(), privilege.into(), grantor.into()],
    )?
    .is_some())
}

/// Removes a grant; false if there was none.
fn revoke(p: &Project, grantee: pg_sys::Oid, privilege: &str) -> Result<bool> {
    Ok(returning::<i32>(
        "DELETE FROM pgml.project_privileges
          WHERE project_id = $1 AND grantee::pg_catalog.oid OPERATOR(pg_catalog.=) $2::pg_catalog.oid AND privilege = $3
         RETURNING 1",
        &[p.id.into(), i64::from(u32::from(grantee)).into(), privilege.into()],
    )?
    .is_some())
}

fn set_owner(p: &Project, owner: pg_sys::Oid) -> Result<()> {
    returning::<i64>(
        "UPDATE pgml.projects SET owner = $2::pg_catalog.oid::pg_catalog.regrole, updated_at = pg_catalog.clock_timestamp()
          WHERE id = $1 RETURNING id",
        &[p.id.into(), owner.into()],
    )?;
    Ok(())
}

/// Deletes the project (its models, deployments, files and grants go with it), then the
/// snapshots no other project's model uses, and their materialized copies. Returns the
/// number of models dropped.
fn drop(p: &Project) -> Result<i64> {
    let models = returning::<i64>(
        "SELECT pg_catalog.count(*) FROM pgml.models WHERE project_id = $1",
        &[p.id.into()],
    )?
    .unwrap_or(0);
    let snapshots = read(|client| {
        Ok(client
            .select(
                "SELECT pg_catalog.array_agg(DISTINCT snapshot_id) FROM pgml.models
                  WHERE project_id = $1 AND snapshot_id IS NOT NULL",
                Some(1),
                &[p.id.into()],
            )?
            .first()
            .get_one::<Vec<i64>>()?
            .unwrap_or_default())
    })?;
    returning::<i64>(
        "DELETE FROM pgml.projects WHERE id = $1 RETURNING id",
        &[p.id.into()],
    )?;
    // The snapshots no model uses any more; the materialized ones' copies go too.
    for id in snapshots {
        let materialized = returning::<bool>(
            "DELETE FROM pgml.snapshots s WHERE s.id = $1
                AND NOT EXISTS (SELECT 1 FROM pgml.models m WHERE m.snapshot_id = s.id)
             RETURNING s.materialized",
            &[id.into()],
        )?;
        if materialized == Some(true) {
            execute(&format!("DROP TABLE IF EXISTS pgml.snapshot_{id}"))?;
        }
    }
    Ok(models)
}

/// The project by name, or 42704.
pub fn existing(name: &str) -> Result<Project> {
    project(name)?.ok_or_else(|| Error::UnknownProject(name.to_string()))
}
