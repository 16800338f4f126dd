//! A LightGBM model (its text format, as `LGBM_BoosterSaveModelToString` writes it) compiled
//! into a [`Forest`].

use super::{Family, Forest, Link, Missing, Trees, Unsupported};
use std::collections::HashMap;
use std::str::FromStr;

// decision_type bits (LightGBM's tree.h).
const CATEGORICAL: u8 = 1;
const DEFAULT_LEFT: u8 = 2;

/// `key=value` lines of one block (the header, or one tree).
fn fields(block: &str) -> HashMap<&str, &str> {
    block
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn list<T: FromStr>(f: &HashMap<&str, &str>, key: &str, len: usize) -> Result<Vec<T>, Unsupported> {
    let text = f.get(key).ok_or_else(|| format!("a tree without {key}"))?;
    let v: Vec<T> = text
        .split_whitespace()
        .map(|v| v.parse::<T>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{key} is not a list of numbers"))?;
    if v.len() != len {
        return Err(format!("{key} has {} values, expected {len}", v.len()));
    }
    Ok(v)
}

fn one<T: FromStr>(f: &HashMap<&str, &str>, key: &str) -> Result<T, Unsupported> {
    f.get(key)
        .ok_or_else(|| format!("no {key}"))?
        .parse()
        .map_err(|_| format!("{key} is not a number"))
}

/// The objective line's link, for the objectives the parity tests cover.
fn link(objective: &str) -> Result<Link, Unsupported> {
    let mut words = objective.split_whitespace();
    let name = words.next().unwrap_or_default();
    let options: Vec<&str> = words.collect();
    if options.contains(&"sqrt") {
        return Err("objective with reg_sqrt".into());
    }
    match name {
        "regression" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" => {
            Ok(Link::Identity)
        }
        "binary" => {
            let scale = options
                .iter()
                .find_map(|o| o.strip_prefix("sigmoid:"))
                .ok_or("binary objective without sigmoid")?
                .parse::<f64>()
                .map_err(|_| "binary sigmoid is not a number")?;
            Ok(Link::Sigmoid { scale })
        }
        "multiclass" => Ok(Link::Softmax),
        "poisson" | "gamma" | "tweedie" => Ok(Link::Exp),
        other => Err(format!("objective {other}")),
    }
}

/// Compiles a LightGBM text model, or says why it cannot be.
pub fn compile(text: &[u8]) -> Result<Forest, Unsupported> {
    let text = std::str::from_utf8(text).map_err(|_| "model text is not UTF-8")?;
    // Stop at the trailer (feature importances, parameters).
    let text = text.split("end of trees").next().unwrap_or_default();
    let mut blocks = text.split("\nTree=");
    let header = blocks.next().unwrap_or_default();
    let h = fields(header);
    let per_iteration: usize = one(&h, "num_tree_per_iteration")?;
    let num_class: usize = one(&h, "num_class")?;
    let num_features = one::<usize>(&h, "max_feature_idx")? + 1;
    let link = link(h.get("objective").ok_or("no objective")?)?;
    if per_iteration == 0 || (link == Link::Softmax) != (num_class > 1) {
        return Err(format!(
            "{num_class} classes with {per_iteration} trees per iteration"
        ));
    }
    let average = header.lines().any(|l| l.trim() == "average_output");
    let mut trees = Trees::<f64>::default();
    for (t, block) in blocks.enumerate() {
        let f = fields(block);
        if f.get("is_linear").is_some_and(|v| *v != "0") {
            return Err("linear trees".into());
        }
        if f.get("num_cat").is_some_and(|v| *v != "0") {
            return Err("categorical splits".into());
        }
        let leaves: usize = one(&f, "num_leaves")?;
        let values: Vec<f64> = list(&f, "leaf_value", leaves)?;
        let group = (t % per_iteration) as u32;
        if leaves <= 1 {
            // A constant tree: one leaf, no splits.
            trees.push_tree(group, 1, |_| None, |_| unreachable!(), |_| values[0])?;
            continue;
        }
        let splits = leaves - 1;
        let feature: Vec<u32> = list(&f, "split_feature", splits)?;
        let threshold: Vec<f64> = list(&f, "threshold", splits)?;
        let decision: Vec<u8> = list(&f, "decision_type", splits)?;
        let left: Vec<i64> = list(&f, "left_child", splits)?;
        let right: Vec<i64> = list(&f, "right_child", splits)?;
        if decision.iter().any(|d| d & CATEGORICAL != 0) {
            return Err("categorical splits".into());
        }
        // LightGBM numbers splits 0..splits and leaves as negative ~leaf. In one numbering
        // for push_tree: splits first, then leaves.
        let id = |c: i64| -> usize {
            if c >= 0 {
                c as usize
            } else {
                splits + (!c) as usize
            }
        };
        trees.push_tree(
            group,
            splits + leaves,
            |i| (i < splits).then(|| (id(left[i]), id(right[i]))),
            |i| {
                let missing = match (decision[i] >> 2) & 3 {
                    0 => Missing::None,
                    1 => Missing::Zero,
                    _ => Missing::Nan,
                };
                (
                    threshold[i],
                    feature[i],
                    decision[i] & DEFAULT_LEFT != 0,
                    missing,
                )
            },
            |i| values[i - splits],
        )?;
    }
    if trees.roots.is_empty() || trees.roots.len() % per_iteration != 0 {
        return Err(format!(
            "{} trees for {per_iteration} per iteration",
            trees.roots.len()
        ));
    }
    trees.validate(num_features, per_iteration)?;
    let iterations = (trees.roots.len() / per_iteration) as f64;
    Ok(Forest {
        family: Family::LightGBM {
            trees,
            average_over: average.then_some(iterations),
        },
        num_features,
        outputs: per_iteration,
        base_margin: vec![0.0; per_iteration],
        link,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_and_refusals() {
        assert_eq!(
            link("binary sigmoid:1").unwrap(),
            Link::Sigmoid { scale: 1.0 }
        );
        assert_eq!(link("multiclass num_class:3").unwrap(), Link::Softmax);
        assert_eq!(link("poisson").unwrap(), Link::Exp);
        assert!(link("regression sqrt").is_err());
        assert!(link("lambdarank").is_err());
        assert!(compile(b"tree\nversion=v4\n").is_err());
    }
}
