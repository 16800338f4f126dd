//! An XGBoost model (its JSON format, as `XGBoosterSaveModelToBuffer` writes it) compiled
//! into a [`Forest`].
//!
//! Floats are parsed from their text with Rust's correctly rounded f32 parser (through
//! serde_json's raw values): XGBoost writes each f32 as its shortest round-trip decimal, and
//! going through f64 first could round twice.

use super::{Family, Forest, Link, Missing, Trees, Unsupported};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Model<'a> {
    #[serde(borrow)]
    learner: Learner<'a>,
}

#[derive(Deserialize)]
struct Learner<'a> {
    learner_model_param: ModelParam,
    objective: Objective,
    #[serde(borrow)]
    gradient_booster: Booster<'a>,
}

#[derive(Deserialize)]
struct ModelParam {
    base_score: String,
    num_class: String,
    num_feature: String,
    #[serde(default)]
    num_target: Option<String>,
}

#[derive(Deserialize)]
struct Objective {
    name: String,
}

#[derive(Deserialize)]
struct Booster<'a> {
    name: String,
    /// Read once the name says gbtree (gblinear's model has other fields).
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct GbTree<'a> {
    #[serde(borrow)]
    trees: Vec<Tree<'a>>,
    tree_info: Vec<u32>,
    /// DART's per-tree weights (XGBoost 3.4 writes dropout models as gbtree with these).
    #[serde(borrow, default)]
    weight_drop: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Tree<'a> {
    left_children: Vec<i64>,
    right_children: Vec<i64>,
    split_indices: Vec<u32>,
    #[serde(borrow)]
    split_conditions: &'a RawValue,
    default_left: Vec<u8>,
    #[serde(default)]
    split_type: Vec<u8>,
    tree_param: TreeParam,
}

#[derive(Deserialize)]
struct TreeParam {
    num_nodes: String,
    #[serde(default)]
    size_leaf_vector: Option<String>,
}

/// A JSON array of numbers, each parsed as f32 from its own digits.
fn f32_array(raw: &RawValue) -> Result<Vec<f32>, Unsupported> {
    let text = raw.get().trim();
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or("a float array is not an array")?;
    if inner.trim().is_empty() {
        return Ok(vec![]);
    }
    inner
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f32>()
                .map_err(|_| format!("{v:?} is not a number"))
        })
        .collect()
}

fn count(name: &str, text: &str) -> Result<usize, Unsupported> {
    text.parse()
        .map_err(|_| format!("{name} {text:?} is not a count"))
}

/// The base score, one per output: "5E-1" (before XGBoost 3.1) or "[5E-1,...]".
fn base_scores(text: &str, outputs: usize) -> Result<Vec<f32>, Unsupported> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    let v: Vec<f32> = inner
        .split(',')
        .map(|v| v.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("base_score {text:?} is not a number list"))?;
    match v.len() {
        1 => Ok(vec![v[0]; outputs]),
        n if n == outputs => Ok(v),
        n => Err(format!("{n} base scores for {outputs} outputs")),
    }
}

/// An objective's `ProbToMargin`: the margin of a base score, in float as XGBoost computes it.
type ToMargin = fn(f32) -> f32;

/// The objectives whose link the parity tests cover, with their base score's margin.
fn link(objective: &str) -> Result<(Link, ToMargin), Unsupported> {
    // binary:logistic clamps the base score to (1e-6, 1 - 1e-6) before the logit.
    fn logit(p: f32) -> f32 {
        let p = p.clamp(1e-6, 1.0 - 1e-6);
        -(1.0f32 / p - 1.0).ln()
    }
    match objective {
        "reg:squarederror" | "reg:absoluteerror" | "reg:pseudohubererror" => {
            Ok((Link::Identity, |v| v))
        }
        "binary:logistic" | "reg:logistic" => Ok((Link::Sigmoid { scale: 1.0 }, logit)),
        "multi:softprob" => Ok((Link::Softmax, |v| v)),
        "count:poisson" => Ok((Link::Exp, f32::ln)),
        other => Err(format!("objective {other}")),
    }
}

/// The booster's name (gbtree, gblinear) in an XGBoost JSON model.
pub fn booster_name(json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Model {
        learner: Learner,
    }
    #[derive(Deserialize)]
    struct Learner {
        gradient_booster: Named,
    }
    #[derive(Deserialize)]
    struct Named {
        name: String,
    }
    serde_json::from_slice::<Model>(json)
        .ok()
        .map(|m| m.learner.gradient_booster.name)
}

/// Compiles an XGBoost JSON model, or says why it cannot be.
pub fn compile(json: &[u8]) -> Result<Forest, Unsupported> {
    let model: Model =
        serde_json::from_slice(json).map_err(|e| format!("unreadable model JSON: {e}"))?;
    let l = model.learner;
    if l.gradient_booster.name != "gbtree" {
        return Err(format!("{} booster", l.gradient_booster.name));
    }
    let gbtree: GbTree = serde_json::from_str(
        l.gradient_booster
            .model
            .ok_or("a gbtree booster without trees")?
            .get(),
    )
    .map_err(|e| format!("unreadable trees: {e}"))?;
    let num_features = count("num_feature", &l.learner_model_param.num_feature)?;
    let num_class = count("num_class", &l.learner_model_param.num_class)?;
    let num_target = match &l.learner_model_param.num_target {
        Some(t) => count("num_target", t)?,
        None => 1,
    };
    let outputs = num_class.max(num_target).max(1);
    let (link, margin) = link(&l.objective.name)?;
    if link == Link::Softmax && num_class < 2 {
        return Err("softmax with one class".into());
    }
    let base_margin = base_scores(&l.learner_model_param.base_score, outputs)?
        .into_iter()
        .map(margin)
        .collect();
    if gbtree.tree_info.len() != gbtree.trees.len() {
        return Err("tree_info and trees differ in length".into());
    }
    let weights = match gbtree.weight_drop {
        Some(w) => f32_array(w)?,
        None => vec![],
    };
    if weights.len() > gbtree.trees.len() {
        return Err("more DART weights than trees".into());
    }
    let mut trees = Trees::<f32>::default();
    for (t, (tree, group)) in gbtree.trees.iter().zip(&gbtree.tree_info).enumerate() {
        // XGBoost multiplies each leaf by its tree's weight (1 without DART) in float before
        // adding it: the same product, computed once here.
        let weight = weights.get(t).copied().unwrap_or(1.0);
        if tree
            .tree_param
            .size_leaf_vector
            .as_deref()
            .is_some_and(|s| s != "0" && s != "1")
        {
            return Err("vector-leaf trees (multi_strategy multi_output_tree)".into());
        }
        if tree.split_type.iter().any(|t| *t != 0) {
            return Err("categorical splits".into());
        }
        let n = count("num_nodes", &tree.tree_param.num_nodes)?;
        let conditions = f32_array(tree.split_conditions)?;
        if [
            tree.left_children.len(),
            tree.right_children.len(),
            tree.split_indices.len(),
            conditions.len(),
            tree.default_left.len(),
        ]
        .iter()
        .any(|len| *len != n)
        {
            return Err("a tree's arrays differ from num_nodes".into());
        }
        // A leaf has left child -1; its value is in split_conditions.
        let child = |c: i64| usize::try_from(c).unwrap_or(usize::MAX);
        trees.push_tree(
            *group,
            n,
            |i| {
                (tree.left_children[i] >= 0)
                    .then(|| (child(tree.left_children[i]), child(tree.right_children[i])))
            },
            |i| {
                (
                    conditions[i],
                    tree.split_indices[i],
                    tree.default_left[i] != 0,
                    Missing::Nan,
                )
            },
            |i| conditions[i] * weight,
        )?;
    }
    trees.validate(num_features, outputs)?;
    trees.fold_missing();
    trees.lay_out_one_row::<super::XGBoostRule>(num_features);
    Ok(Forest {
        family: Family::XGBoost(trees),
        num_features,
        outputs,
        base_margin,
        link,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_parse_from_their_own_digits() {
        let raw: Box<RawValue> =
            serde_json::from_str("[0.47207645, -1.5E-1, 3.4028235E38]").unwrap();
        assert_eq!(
            f32_array(&raw).unwrap(),
            vec![0.47207645f32, -0.15, f32::MAX]
        );
        assert_eq!(base_scores("5E-1", 3).unwrap(), vec![0.5; 3]);
        assert_eq!(base_scores("[1E0,2E0]", 2).unwrap(), vec![1.0, 2.0]);
        assert!(base_scores("[1,2]", 3).is_err());
    }

    #[test]
    fn unsupported_models_say_why() {
        let e = compile(br#"{"learner": {"learner_model_param": {"base_score": "0", "num_class": "0", "num_feature": "1"}, "objective": {"name": "reg:squarederror"}, "gradient_booster": {"name": "gblinear"}}}"#).err().unwrap();
        assert_eq!(e, "gblinear booster");
        assert!(compile(b"not json").is_err());
    }
}
