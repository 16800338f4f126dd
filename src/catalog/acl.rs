//! Who may do what with a project, and whose identity pgml's own catalog statements run
//! under.
//!
//! The model follows Postgres's own objects: a project has an owner (a role); the owner, the
//! roles that have its privileges (members that inherit) and superusers may do anything with
//! it, and the owner grants the rest (`pgml.grant_project`): `predict` serves its deployed
//! model, `train` also trains into it, deploys its models and reads its snapshots. Grants go
//! to a role or PUBLIC and are held through membership as table grants are. pgml functions
//! rather than one Postgres role per project: a project is a row, not a catalog object, and
//! a role per project would need CREATEROLE and leave roles behind in every cluster.
//!
//! Nobody but the catalog's owner (the extension owner) can write pgml's tables, so every
//! statement of src/catalog runs as that role ([`as_catalog_owner`]), after the check
//! here. What runs as the caller: reading the training relation, filling a materialized
//! snapshot from it, and loading a dataset.

use crate::error::{Error, Result};
use pgrx::pg_sys;
use serde::{Deserialize, Serialize};

/// A privilege on a project, weakest first: each includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Privilege {
    Predict,
    Train,
    /// Not grantable: the owner's own (drop, grant, hand over, read model bytes).
    Owner,
}

impl Privilege {
    pub fn parse(s: &str) -> Result<Privilege> {
        match s.to_ascii_lowercase().as_str() {
            "predict" => Ok(Privilege::Predict),
            "train" => Ok(Privilege::Train),
            "owner" => Ok(Privilege::Owner),
            _ => Err(Error::UnknownPrivilege(s.to_string())),
        }
    }

    /// The privileges pgml.grant_project takes.
    pub fn grantable(s: &str) -> Result<Privilege> {
        match Privilege::parse(s)? {
            Privilege::Owner => Err(Error::UnknownPrivilege(s.to_string())),
            p => Ok(p),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Predict => "predict",
            Privilege::Train => "train",
            Privilege::Owner => "owner",
        }
    }
}

/// A project's owner and grants, as read from pgml.projects and pgml.project_privileges.
/// Role OIDs as u32 (serializable into the shared model cache); grantee 0 is PUBLIC.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Acl {
    pub owner: u32,
    pub grants: Vec<(u32, Privilege)>,
}

impl Acl {
    /// Whether `user` holds `wanted` on the project.
    pub fn allows(&self, user: pg_sys::Oid, wanted: Privilege) -> bool {
        // SAFETY: syscache reads (role attributes and memberships) in a backend's transaction.
        unsafe {
            if pg_sys::superuser_arg(user)
                || (self.owner != 0 && pg_sys::has_privs_of_role(user, self.owner.into()))
            {
                return true;
            }
            wanted != Privilege::Owner
                && self.grants.iter().any(|&(grantee, held)| {
                    held >= wanted
                        && (grantee == 0 || pg_sys::has_privs_of_role(user, grantee.into()))
                })
        }
    }

    /// Whether `user` is the owner or has its privileges, not counting a superuser's (who
    /// has every role's): whether a `pgml.train` with a task may go into this project.
    pub fn owned_by(&self, user: pg_sys::Oid) -> bool {
        let owner = pg_sys::Oid::from(self.owner);
        // SAFETY: syscache reads of role attributes and memberships.
        self.owner != 0
            && (user == owner
                || unsafe {
                    !pg_sys::superuser_arg(user) && pg_sys::has_privs_of_role(user, owner)
                })
    }

    /// [`Acl::allows`] for the current user, or the error naming what is missing.
    pub fn check(&self, project: &str, wanted: Privilege, action: &'static str) -> Result<()> {
        let user = current_user();
        if self.allows(user, wanted) {
            return Ok(());
        }
        Err(Error::ProjectPrivilege {
            project: project.to_string(),
            privilege: wanted.as_str(),
            action,
            role: role_name(user),
            owner: role_name(self.owner.into()),
        })
    }
}

pub fn current_user() -> pg_sys::Oid {
    // SAFETY: reads a backend variable.
    unsafe { pg_sys::GetUserId() }
}

/// A role's name, or how a dropped one shows (as `regrole` prints it).
pub fn role_name(role: pg_sys::Oid) -> String {
    if role == pg_sys::InvalidOid {
        return "PUBLIC".into();
    }
    // SAFETY: a syscache read; noerr returns NULL for a role that no longer exists.
    unsafe {
        let name = pg_sys::GetUserNameFromId(role, true);
        if name.is_null() {
            u32::from(role).to_string()
        } else {
            std::ffi::CStr::from_ptr(name)
                .to_string_lossy()
                .into_owned()
        }
    }
}

/// A role by its exact name, or PUBLIC (0) for `public` in any case when no role has that
/// exact name (Postgres reserves only the lower-case one; a role named "PUBLIC" is itself).
pub fn role_oid(name: &str) -> Result<pg_sys::Oid> {
    let c = std::ffi::CString::new(name).map_err(|_| Error::UnknownRole(name.to_string()))?;
    // SAFETY: a syscache read; missing_ok returns InvalidOid.
    let oid = unsafe { pg_sys::get_role_oid(c.as_ptr(), true) };
    if oid != pg_sys::InvalidOid {
        return Ok(oid);
    }
    if name.eq_ignore_ascii_case("public") {
        return Ok(pg_sys::InvalidOid);
    }
    Err(Error::UnknownRole(name.to_string()))
}

/// Whether `user` is exactly `role`: whom a retrain trusts to have chosen the relation it
/// reads, and whose dataset table load_dataset refills. Not its members, nor a superuser:
/// a group's member could plant a view as the group that would run with another member's
/// privileges, and an admin that is a member of the roles it created (without inheriting
/// them) would run their code.
pub fn acts_as(user: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    user == role
}

/// The owner of pgml.projects: the extension's owner, whose identity pgml's catalog
/// statements take. Two syscache lookups, no SPI.
pub(crate) fn catalog_owner() -> Result<pg_sys::Oid> {
    // SAFETY: syscache reads in a backend's transaction; the tuple is released before return.
    unsafe {
        let schema = pg_sys::get_namespace_oid(c"pgml".as_ptr(), true);
        let table = pg_sys::get_relname_relid(c"projects".as_ptr(), schema);
        if schema == pg_sys::InvalidOid || table == pg_sys::InvalidOid {
            return Err(Error::Spi("pgml.projects does not exist".into()));
        }
        let tuple = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::RELOID as i32,
            pg_sys::Datum::from(table),
        );
        if tuple.is_null() {
            return Err(Error::Spi("pgml.projects has no pg_class row".into()));
        }
        let header = (*tuple).t_data;
        let form = (header as *const u8).add(usize::from((*header).t_hoff))
            as *const pg_sys::FormData_pg_class;
        let owner = (*form).relowner;
        pg_sys::ReleaseSysCache(tuple);
        Ok(owner)
    }
}

/// Runs `f` as the catalog's owner, the way Postgres runs a `SECURITY DEFINER` function or
/// a materialized view's refresh: a local user id change, with the restricted-operation flag
/// that forbids `SET ROLE` and temporary objects meanwhile. Only pgml's own statements run
/// inside (fixed text, values as parameters, under catalog::pinned_search_path); the
/// user's relation is never read here. Restored on return and on unwind (a Postgres ERROR
/// also restores it when the (sub)transaction aborts).
pub(crate) fn as_catalog_owner<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    struct Restore(pg_sys::Oid, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: sets two backend variables back to what they were.
            unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) };
        }
    }
    let owner = catalog_owner()?;
    let (mut user, mut context) = (pg_sys::InvalidOid, 0i32);
    // SAFETY: reads and sets backend variables, as fmgr_security_definer does.
    let _restore = unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
        Restore(user, context)
    };
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_parse_and_order() {
        assert_eq!(Privilege::parse("PREDICT").unwrap(), Privilege::Predict);
        assert!(Privilege::Predict < Privilege::Train && Privilege::Train < Privilege::Owner);
        assert!(Privilege::grantable("owner").is_err());
        assert!(Privilege::parse("select").is_err());
    }
}
