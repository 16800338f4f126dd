//! A LightGBM model (its text format, as `LGBM_BoosterSaveModelToString` writes it) compiled
//! into a [`Forest`].

use super::{Family, Forest, Link, Missing, Trees, Unsupported};
use std::collections::HashMap;
use std::str::FromStr;

// decision_type bits (LightGBM's tree.h).
const CATEGORICAL: u8 = 1;
const DEFAULT_LEFT: u8 = 2;

/// A number as LightGBM's Atof / Atoi read it without raising an error (which, while it
/// parses trees in parallel, aborts the process): digits, sign, point, exponent, or nan / inf.
fn plain(v: &str) -> bool {
    let t = v.trim_start_matches(['+', '-']).to_ascii_lowercase();
    t == "nan"
        || t == "inf"
        || (!v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)))
}

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
    // Exactly as LightGBM splits and reads them: single spaces, plain number characters
    // (its fast parser reads a fixed count of values, whatever lies between them).
    let v: Vec<T> = text
        .split(' ')
        .map(|v| v.parse::<T>().ok().filter(|_| plain(v)))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{key} is not a list of numbers"))?;
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

/// Most leaves a tree may have (LightGBM's num_leaves is an int; real models stay far below).
const MAX_LEAVES: usize = 1 << 24;
/// Most classes (and trees per iteration) a model may have.
const MAX_CLASSES: usize = 1 << 16;

/// What LightGBM 4's loader and predictor trust about a text model without checking it,
/// checked here before the text reaches them: `tree_sizes` pointing at each "Tree=" line, and
/// per tree every array it reads present with exactly its count (`StringToArrayFast` reads
/// that many values whatever the text holds), child and feature indices in range, each node
/// reached once, categorical split sets inside their arrays. Trees are parsed by the library
/// in an OpenMP loop, where a bad tree aborted the process instead of raising an error
/// (src/tests/fuzz.rs). Covers models the native compiler leaves to the library (categorical
/// splits, linear trees, other objectives) too.
pub fn check_structure(text: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(text).map_err(|_| "model text is not UTF-8")?;
    let trees_at = text.find("\nTree=").ok_or("no trees")? + 1;
    let h = fields(&text[..trees_at]);
    let features = one::<usize>(&h, "max_feature_idx")?.saturating_add(1);
    let per_iteration: usize = one(&h, "num_tree_per_iteration")?;
    let num_class: usize = one(&h, "num_class")?;
    // LightGBM reads these with atoi into an int: beyond it they wrap.
    let label: i64 = one(&h, "label_index")?;
    if per_iteration != num_class
        || !(1..=MAX_CLASSES).contains(&per_iteration)
        || !(1..=MAX_CLASSES).contains(&num_class)
        || features > MAX_LEAVES
        || !(0..=i32::MAX as i64).contains(&label)
    {
        return Err(
            "num_tree_per_iteration, num_class, max_feature_idx or label_index out of range".into(),
        );
    }
    let body = &text[trees_at..];
    let body = &body[..body.find("end of trees").unwrap_or(body.len())];
    let blocks: Vec<&str> = body.split("\nTree=").collect();
    if let Some(sizes) = h.get("tree_sizes") {
        // The library starts tree i at the sum of the sizes before it.
        let mut at = 0usize;
        let sizes: Vec<usize> = (sizes.split_whitespace())
            .map(|v| v.parse().map_err(|_| "tree_sizes is not a list of sizes"))
            .collect::<Result<_, _>>()?;
        if sizes.len() != blocks.len() {
            return Err(format!(
                "{} tree_sizes for {} trees",
                sizes.len(),
                blocks.len()
            ));
        }
        for size in sizes {
            if !text[trees_at..]
                .get(at..)
                .is_some_and(|t| t.starts_with("Tree="))
            {
                return Err("tree_sizes do not point at the trees".into());
            }
            at = at.checked_add(size).ok_or("tree_sizes overflow")?;
        }
        if at > text.len() - trees_at {
            return Err("tree_sizes run past the end".into());
        }
    }
    if !blocks.len().is_multiple_of(per_iteration) {
        return Err(format!(
            "{} trees for {per_iteration} per iteration",
            blocks.len()
        ));
    }
    for (t, block) in blocks.iter().enumerate() {
        lines(block).map_err(|e| format!("tree {t}: {e}"))?;
        tree(&fields(block), features).map_err(|e| format!("tree {t}: {e}"))?;
    }
    Ok(())
}

/// LightGBM reads a tree's `key=value` lines by scanning for '=' and then for the line's
/// end, with no bound but the string's: up to 22 lines, each with a '=', then an empty line.
fn lines(block: &str) -> Result<(), String> {
    // After the "Tree=<n>" line.
    let rest = block.split_once('\n').map_or("", |(_, r)| r);
    let (keys, _) = rest
        .split_once("\n\n")
        .ok_or("its lines do not end with an empty line")?;
    let keys: Vec<&str> = keys.split('\n').collect();
    if keys.len() > 22 || keys.iter().any(|l| !l.contains('=')) {
        return Err("a line without '=' (or more than 22 lines)".into());
    }
    Ok(())
}

/// One tree's fields, as LightGBM's `Tree(const char*)` reads them.
fn tree(f: &HashMap<&str, &str>, features: usize) -> Result<(), String> {
    for key in ["num_leaves", "num_cat", "shrinkage", "is_linear"] {
        if f.get(key)
            .is_some_and(|v| !plain(v) || v.parse::<f64>().is_err())
        {
            return Err(format!("{key} is not a number"));
        }
    }
    let leaves: i64 = one(f, "num_leaves")?;
    let cats: i64 = one(f, "num_cat")?;
    let leaves = usize::try_from(leaves)
        .ok()
        .filter(|l| (1..=MAX_LEAVES).contains(l))
        .ok_or(format!("num_leaves {leaves}"))?;
    let cats = usize::try_from(cats).map_err(|_| format!("num_cat {cats}"))?;
    let splits = leaves - 1;
    let count = |key: &str, len: usize| -> Result<(), String> {
        match f.get(key) {
            Some(_) => list::<f64>(f, key, len).map(|_| ()),
            None => Ok(()),
        }
    };
    list::<f64>(f, "leaf_value", leaves)?;
    for key in ["leaf_weight", "leaf_count", "leaf_const", "num_features"] {
        count(key, leaves)?;
    }
    let linear = f.get("is_linear").is_some_and(|v| *v != "0");
    if linear {
        let per_leaf: Vec<usize> = list(f, "num_features", leaves)?;
        let total = per_leaf.iter().try_fold(0usize, |a, n| a.checked_add(*n));
        let total = total
            .filter(|t| *t <= MAX_LEAVES)
            .ok_or("num_features too large")?;
        let leaf_features: Vec<usize> = list(f, "leaf_features", total)?;
        list::<f64>(f, "leaf_coeff", total)?;
        if leaf_features.iter().any(|j| *j >= features) {
            return Err("a linear leaf on a feature out of range".into());
        }
    }
    if splits == 0 {
        return Ok(());
    }
    for key in [
        "split_gain",
        "internal_value",
        "internal_weight",
        "internal_count",
        "decision_type",
    ] {
        count(key, splits)?;
    }
    let left: Vec<i64> = list(f, "left_child", splits)?;
    let right: Vec<i64> = list(f, "right_child", splits)?;
    let feature: Vec<i64> = list(f, "split_feature", splits)?;
    let threshold: Vec<f64> = list(f, "threshold", splits)?;
    let decision: Vec<u8> = match f.get("decision_type") {
        Some(_) => list(f, "decision_type", splits)?,
        None => vec![0; splits],
    };
    if feature
        .iter()
        .any(|j| !usize::try_from(*j).is_ok_and(|j| j < features))
    {
        return Err("a split on a feature out of range".into());
    }
    if cats > 0 {
        let bounds: Vec<usize> = list(f, "cat_boundaries", cats + 1)?;
        let words = f
            .get("cat_threshold")
            .map_or(0, |v| v.split_whitespace().count());
        list::<u32>(f, "cat_threshold", words)?;
        if bounds.windows(2).any(|w| w[0] > w[1]) || bounds[cats] > words {
            return Err("cat_boundaries out of range".into());
        }
    }
    for (i, d) in decision.iter().enumerate() {
        if d & CATEGORICAL != 0 && !(threshold[i] >= 0.0 && (threshold[i] as usize) < cats) {
            return Err(format!("split {i} names a category set out of range"));
        }
    }
    // Splits are 0..splits, leaves ~0..~leaves; walk from the root.
    let mut seen = vec![false; splits];
    let mut stack = vec![0i64];
    while let Some(c) = stack.pop() {
        if c < 0 {
            if (!c) as usize >= leaves {
                return Err(format!("leaf {} out of range", !c));
            }
            continue;
        }
        let i = c as usize;
        if i >= splits || std::mem::replace(&mut seen[i], true) {
            return Err(format!("split {i} out of range or reached twice"));
        }
        stack.extend([left[i], right[i]]);
    }
    Ok(())
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
    trees.lay_out_one_row::<super::LightGBMRule>(num_features);
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
