//! `pgml.deploy`: choose a model by strategy or id and make it the served one.

use crate::catalog;
use crate::error::{Error, Result};
use pgml_core::bindings;

pub struct Deployed {
    pub project: String,
    pub strategy: String,
    pub algorithm: String,
}

pub const STRATEGIES: [&str; 3] = ["best_score", "most_recent", "rollback"];

pub fn by_strategy(project: &str, strategy: &str, algorithm: Option<&str>) -> Result<Deployed> {
    if !STRATEGIES.contains(&strategy) {
        return Err(Error::UnknownStrategy(strategy.to_string()));
    }
    if let Some(a) = algorithm {
        bindings::find(a).ok_or_else(|| Error::UnknownAlgorithm(a.to_string()))?;
    }
    let p = catalog::existing(project)?;
    catalog::lock_and_check(&p, catalog::Privilege::Train, "deploy in")?;
    let (model_id, alg) = catalog::choose_model(p.id, strategy, algorithm)?.ok_or_else(|| {
        Error::NothingToDeploy {
            project: project.to_string(),
            strategy: strategy.to_string(),
        }
    })?;
    catalog::insert_deployment(p.id, model_id, strategy)?;
    Ok(Deployed {
        project: p.name,
        strategy: strategy.into(),
        algorithm: alg,
    })
}

pub fn by_id(model_id: i64) -> Result<Deployed> {
    let (p, alg) = catalog::model_project(model_id)?.ok_or(Error::UnknownModel(model_id))?;
    catalog::lock_and_check(&p, catalog::Privilege::Train, "deploy in")?;
    catalog::insert_deployment(p.id, model_id, "specific")?;
    Ok(Deployed {
        project: p.name,
        strategy: "specific".into(),
        algorithm: alg,
    })
}
