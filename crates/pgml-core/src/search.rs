//! Hyperparameter search: candidates from `search_params` (grid or seeded random), each
//! scored by k-fold cross-validation on the training split. The caller refits the winner on
//! the whole training split. Pure Rust: no Postgres.

use crate::bindings::{Backend, BindingError, Evaluation, Hyperparams, Progress, Task, TrainData};
use crate::data::SplitMix64;
use crate::metrics;
use ndarray::{Array1, Array2};
use serde_json::{json, Map, Value};
use std::time::Instant;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SearchError {
    #[error("unknown search \"{0}\"")]
    UnknownKind(String),
    #[error("search_params must be an object of candidate lists, got {0}")]
    NotObject(String),
    #[error("search_params \"{name}\": {problem}")]
    BadCandidates { name: String, problem: String },
    #[error("search_args: {0}")]
    BadArgs(String),
    #[error("cv = {cv} folds need at least {cv} training rows, got {rows}")]
    TooFewRows { cv: usize, rows: usize },
}

/// Most candidates one search may try: each is a cross-validated fit, so more would run for
/// days, and their parameter sets are held in memory up front (a grid of 10 lists of 10
/// values is 10^10 of them).
pub const MAX_CANDIDATES: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Grid,
    Random,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind, SearchError> {
        match s {
            "grid" => Ok(Kind::Grid),
            "random" => Ok(Kind::Random),
            other => Err(SearchError::UnknownKind(other.into())),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    pub n_iter: usize,
    pub cv: usize,
    pub seed: u64,
}

impl Args {
    pub fn parse(v: &Value) -> Result<Args, SearchError> {
        let m = v
            .as_object()
            .ok_or_else(|| SearchError::BadArgs(format!("expected an object, got {v}")))?;
        let mut args = Args {
            n_iter: 10,
            cv: 3,
            seed: 0,
        };
        for (k, v) in m {
            let n = v.as_u64().ok_or_else(|| {
                SearchError::BadArgs(format!("{k} must be a non-negative integer, got {v}"))
            })?;
            match k.as_str() {
                "n_iter" if (1..=MAX_CANDIDATES as u64).contains(&n) => args.n_iter = n as usize,
                "cv" if (2..=100).contains(&n) => args.cv = n as usize,
                "seed" => args.seed = n,
                "n_iter" | "cv" => {
                    return Err(SearchError::BadArgs(format!(
                    "{k} = {n} is out of range (1 <= n_iter <= {MAX_CANDIDATES}, 2 <= cv <= 100)"
                )))
                }
                other => {
                    return Err(SearchError::BadArgs(format!(
                        "unknown key \"{other}\" (valid: n_iter, cv, seed)"
                    )))
                }
            }
        }
        Ok(args)
    }
}

fn bad(name: &str, problem: impl Into<String>) -> SearchError {
    SearchError::BadCandidates {
        name: name.into(),
        problem: problem.into(),
    }
}

/// `[lo, hi]` of a distribution object.
fn range(name: &str, v: &Value) -> Result<(f64, f64), SearchError> {
    match v.as_array().map(|a| a.as_slice()) {
        Some([lo, hi]) => match (lo.as_f64(), hi.as_f64()) {
            (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
            _ => Err(bad(
                name,
                format!("expected [low, high] with low <= high, got {v}"),
            )),
        },
        _ => Err(bad(name, format!("expected [low, high], got {v}"))),
    }
}

/// One value of a random-search parameter.
fn sample(name: &str, spec: &Value, rng: &mut SplitMix64) -> Result<Value, SearchError> {
    let unit = |rng: &mut SplitMix64| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    if let Some(list) = spec.as_array() {
        if list.is_empty() {
            return Err(bad(name, "an empty list"));
        }
        return Ok(list[rng.below(list.len())].clone());
    }
    let obj = spec.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        bad(name, format!("expected a list of values or one of {{\"uniform\"|\"log_uniform\"|\"int\": [low, high]}}, got {spec}"))
    })?;
    let (dist, r) = obj.iter().next().expect("one entry");
    let (lo, hi) = range(name, r)?;
    match dist.as_str() {
        "uniform" => Ok(json!(lo + (hi - lo) * unit(rng))),
        "log_uniform" if lo > 0.0 => Ok(json!((lo.ln() + (hi.ln() - lo.ln()) * unit(rng)).exp())),
        "log_uniform" => Err(bad(name, "log_uniform needs low > 0")),
        "int" => Ok(json!(
            lo.ceil() as i64 + rng.below((hi.floor() - lo.ceil()) as usize + 1) as i64
        )),
        other => Err(bad(
            name,
            format!("unknown distribution \"{other}\" (uniform, log_uniform, int)"),
        )),
    }
}

/// The candidate parameter sets: every combination (grid) or `n_iter` draws (random).
pub fn candidates(
    kind: Kind,
    space: &Value,
    args: &Args,
) -> Result<Vec<Map<String, Value>>, SearchError> {
    let space = space
        .as_object()
        .ok_or_else(|| SearchError::NotObject(space.to_string()))?;
    if space.is_empty() {
        return Err(SearchError::NotObject("{} (no parameter to search)".into()));
    }
    match kind {
        Kind::Grid => {
            let combinations = space
                .values()
                .map(|v| v.as_array().map_or(1, Vec::len).max(1))
                .try_fold(1usize, |acc, n| acc.checked_mul(n))
                .unwrap_or(usize::MAX);
            if combinations > MAX_CANDIDATES {
                return Err(SearchError::BadArgs(format!(
                    "the grid has {} combinations, more than the {MAX_CANDIDATES} a search may try",
                    if combinations == usize::MAX {
                        "too many".to_string()
                    } else {
                        combinations.to_string()
                    }
                )));
            }
            let mut out = vec![Map::new()];
            for (name, values) in space {
                let list = values.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
                    bad(
                        name,
                        format!("grid search needs a non-empty list of values, got {values}"),
                    )
                })?;
                out = out
                    .into_iter()
                    .flat_map(|m| {
                        list.iter().map(move |v| {
                            let mut m = m.clone();
                            m.insert(name.clone(), v.clone());
                            m
                        })
                    })
                    .collect();
            }
            Ok(out)
        }
        Kind::Random => {
            let mut rng = SplitMix64::new(args.seed ^ 0x5EA2_C400);
            (0..args.n_iter)
                .map(|_| {
                    space
                        .iter()
                        .map(|(name, spec)| Ok((name.clone(), sample(name, spec, &mut rng)?)))
                        .collect()
                })
                .collect()
        }
    }
}

/// Row indices of each fold's validation part, after a seeded shuffle.
pub fn folds(rows: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..rows).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..rows).rev() {
        idx.swap(i, rng.below(i + 1));
    }
    (0..k)
        .map(|f| idx.iter().copied().skip(f).step_by(k).collect())
        .collect()
}

/// The rows' features and their labels (`num_targets` per row).
fn gather(data: &TrainData, rows: &[usize]) -> (Array2<f32>, Array1<f32>) {
    let d = data.x.ncols();
    let mut x = Array2::zeros((rows.len(), d));
    for (o, r) in rows.iter().enumerate() {
        x.row_mut(o).assign(&data.x.row(*r));
    }
    let y = data.y_matrix();
    (x, rows.iter().flat_map(|r| y.row(*r).to_vec()).collect())
}

/// r2 for regression (the mean over a joint regression's targets), f1 for classification,
/// on one fold.
fn score(
    task: Task,
    k: usize,
    targets: usize,
    model: &dyn crate::bindings::Model,
    how: Evaluation,
    x: &Array2<f32>,
    y: &Array1<f32>,
) -> Result<f64, BindingError> {
    let xs = x.as_slice().expect("gathered rows are contiguous");
    let ys = y.as_slice().expect("contiguous");
    let mut pred = Vec::with_capacity(ys.len());
    let (m, key) = match task {
        Task::Decomposition => {
            let k = model.shape().num_classes;
            crate::interrupt::in_chunks(xs, x.ncols(), |r| model.transform(r, &mut pred))?;
            let v = crate::bindings::decomposition::explained_variance(xs, x.ncols(), &pred, k);
            let mut m = serde_json::Map::new();
            m.insert("cumulative_explained_variance".into(), json!(v));
            (m, "cumulative_explained_variance")
        }
        Task::Regression => {
            crate::interrupt::in_chunks(xs, x.ncols(), |r| model.predict(r, how, &mut pred))?;
            (metrics::regression_joint(ys, &pred, targets), "r2")
        }
        Task::Classification => {
            crate::interrupt::in_chunks(xs, x.ncols(), |r| model.predict(r, how, &mut pred))?;
            (metrics::classification(ys, &pred, &[], k), "f1")
        }
        Task::Clustering => {
            crate::interrupt::in_chunks(xs, x.ncols(), |r| model.predict(r, how, &mut pred))?;
            let mut m = serde_json::Map::new();
            m.insert(
                "silhouette".into(),
                json!(metrics::silhouette(xs, x.ncols(), &pred)),
            );
            (m, "silhouette")
        }
    };
    Ok(m.get(key)
        .and_then(Value::as_f64)
        .unwrap_or(f64::NEG_INFINITY))
}

pub struct Outcome {
    /// `base` with the winning candidate's values.
    pub best: Map<String, Value>,
    /// One entry per candidate: params, mean_score, std_score, fit_time (seconds, all folds).
    pub results: Vec<Value>,
}

/// Cross-validates every candidate (merged over `base`) and returns the best by mean score
/// (ties: the first). Each fold's model is scored as `how` says (the caller's settings, as
/// for the test split). Errors from the library abort the search.
pub fn run(
    backend: &dyn Backend,
    data: &TrainData,
    base: &Map<String, Value>,
    candidates: &[Map<String, Value>],
    args: &Args,
    how: Evaluation,
    progress: Progress,
) -> Result<Outcome, SearchError2> {
    let rows = data.x.nrows();
    if rows < args.cv {
        return Err(SearchError::TooFewRows { cv: args.cv, rows }.into());
    }
    let merged: Vec<Hyperparams> = candidates
        .iter()
        .map(|c| {
            let mut m = base.clone();
            m.extend(c.clone());
            Hyperparams::new(m)
        })
        .collect();
    for h in &merged {
        backend.validate(h)?;
    }
    let folds = folds(rows, args.cv, args.seed);
    let mut results = Vec::with_capacity(merged.len());
    let mut best: Option<(f64, usize)> = None;
    for (i, params) in merged.iter().enumerate() {
        let started = Instant::now();
        let mut scores = Vec::with_capacity(args.cv);
        for valid in &folds {
            let mut in_valid = vec![false; rows];
            valid.iter().for_each(|r| in_valid[*r] = true);
            let train_rows: Vec<usize> = (0..rows).filter(|r| !in_valid[*r]).collect();
            let (xt, yt) = gather(data, &train_rows);
            let (xv, yv) = gather(data, valid);
            let fold = TrainData {
                x: xt.view(),
                y: yt.view(),
                task: data.task,
                num_classes: data.num_classes,
                num_targets: data.num_targets,
                threads: data.threads,
            };
            let model = crate::bindings::fit(backend, &fold, params, &mut *progress)
                .map_err(|e| e.blaming(params, backend.params()))?;
            scores.push(score(
                data.task,
                data.num_classes,
                data.num_targets,
                model.as_ref(),
                how,
                &xv,
                &yv,
            )?);
        }
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        let std =
            (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / scores.len() as f64).sqrt();
        results.push(json!({
            "params": Value::Object(candidates[i].clone()),
            "mean_score": if mean.is_finite() { json!(mean) } else { Value::Null },
            "std_score": if std.is_finite() { json!(std) } else { Value::Null },
            "fit_time": started.elapsed().as_secs_f64(),
        }));
        if mean.is_finite() && best.is_none_or(|(b, _)| mean > b) {
            best = Some((mean, i));
        }
    }
    let winner = best.map_or(0, |(_, i)| i);
    Ok(Outcome {
        best: merged[winner].0.clone(),
        results,
    })
}

/// Search or library failure.
#[derive(Debug, thiserror::Error)]
pub enum SearchError2 {
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Binding(#[from] BindingError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{self, Task};

    #[test]
    fn grid_is_the_cartesian_product() {
        let c = candidates(
            Kind::Grid,
            &json!({"a": [1, 2], "b": ["x", "y", "z"]}),
            &Args::parse(&json!({})).unwrap(),
        )
        .unwrap();
        assert_eq!(c.len(), 6);
        assert!(c.contains(&json!({"a": 2, "b": "y"}).as_object().unwrap().clone()));
        assert!(candidates(
            Kind::Grid,
            &json!({"a": 1}),
            &Args::parse(&json!({})).unwrap()
        )
        .is_err());
        assert!(candidates(
            Kind::Grid,
            &json!({"a": []}),
            &Args::parse(&json!({})).unwrap()
        )
        .is_err());
        assert!(candidates(Kind::Grid, &json!([1]), &Args::parse(&json!({})).unwrap()).is_err());
    }

    #[test]
    fn random_draws_are_seeded_and_in_range() {
        let space = json!({"eta": {"log_uniform": [0.01, 1]}, "depth": {"int": [2, 4]}, "sub": {"uniform": [0.5, 1]}, "k": [1, 3]});
        assert!(Args::parse(&json!({"n_iter": 1_000_000_000u64})).is_err());
        let huge: Map<String, Value> = (0..12)
            .map(|i| (format!("p{i}"), json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])))
            .collect();
        assert!(matches!(
            candidates(
                Kind::Grid,
                &Value::Object(huge),
                &Args::parse(&json!({})).unwrap()
            ),
            Err(SearchError::BadArgs(_))
        ));
        let args = Args::parse(&json!({"n_iter": 50, "seed": 9})).unwrap();
        let a = candidates(Kind::Random, &space, &args).unwrap();
        assert_eq!(a, candidates(Kind::Random, &space, &args).unwrap());
        assert_ne!(
            a,
            candidates(
                Kind::Random,
                &space,
                &Args {
                    seed: 10,
                    ..args.clone()
                }
            )
            .unwrap()
        );
        assert_eq!(a.len(), 50);
        for c in &a {
            let eta = c["eta"].as_f64().unwrap();
            assert!((0.01..=1.0).contains(&eta));
            assert!((2..=4).contains(&c["depth"].as_i64().unwrap()));
            assert!((0.5..=1.0).contains(&c["sub"].as_f64().unwrap()));
        }
        let depths: std::collections::HashSet<i64> =
            a.iter().map(|c| c["depth"].as_i64().unwrap()).collect();
        assert_eq!(depths.len(), 3, "every integer in range is drawn");
        assert!(candidates(Kind::Random, &json!({"x": {"log_uniform": [0, 1]}}), &args).is_err());
        assert!(candidates(Kind::Random, &json!({"x": {"normal": [0, 1]}}), &args).is_err());
    }

    #[test]
    fn args_and_folds() {
        assert_eq!(
            Args::parse(&json!({"cv": 5, "n_iter": 3, "seed": 1})).unwrap(),
            Args {
                n_iter: 3,
                cv: 5,
                seed: 1
            }
        );
        assert!(Args::parse(&json!({"cv": 1})).is_err());
        assert!(Args::parse(&json!({"folds": 3})).is_err());
        let f = folds(10, 3, 0);
        assert_eq!(f.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 3, 3]);
        let mut all: Vec<usize> = f.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn run_picks_the_better_candidate() {
        // y depends on x: a shallow tree cannot fit it as well as a deeper one.
        let x = Array2::from_shape_fn((120, 1), |(i, _)| i as f32);
        let y = x.column(0).mapv(|v| (v / 10.0).sin() * 10.0);
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Regression,
            num_classes: 0,
            num_targets: 1,
            threads: None,
        };
        let backend = bindings::find("xgboost").unwrap();
        let cands = candidates(
            Kind::Grid,
            &json!({"max_depth": [1, 6]}),
            &Args::parse(&json!({})).unwrap(),
        )
        .unwrap();
        let base = json!({"n_estimators": 30}).as_object().unwrap().clone();
        let out = run(
            backend,
            &data,
            &base,
            &cands,
            &Args {
                n_iter: 1,
                cv: 3,
                seed: 0,
            },
            Evaluation::default(),
            &mut |_, _| Ok(()),
        )
        .unwrap();
        assert_eq!(out.best["max_depth"], json!(6));
        assert_eq!(out.best["n_estimators"], json!(30));
        assert_eq!(out.results.len(), 2);
        assert!(
            out.results[1]["mean_score"].as_f64().unwrap()
                > out.results[0]["mean_score"].as_f64().unwrap()
        );
        // an unknown parameter in the space fails before any fit
        let bad = candidates(
            Kind::Grid,
            &json!({"depth": [1]}),
            &Args::parse(&json!({})).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            run(
                backend,
                &data,
                &base,
                &bad,
                &Args {
                    n_iter: 1,
                    cv: 3,
                    seed: 0
                },
                Evaluation::default(),
                &mut |_, _| Ok(())
            ),
            Err(SearchError2::Binding(
                BindingError::UnknownHyperparam { .. }
            ))
        ));
    }
}
