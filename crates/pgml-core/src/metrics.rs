//! Scores stored in `pgml.models.metrics`. Pure functions over predictions; no Postgres.

use serde_json::{Map, Value};

fn put(m: &mut Map<String, Value>, key: &str, v: f64) {
    // JSON has no NaN: an undefined score (e.g. r2 of a constant target) is stored as null.
    let v = serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null);
    m.insert(key.into(), v);
}

pub fn regression(y: &[f32], pred: &[f32]) -> Map<String, Value> {
    let n = y.len() as f64;
    let mean = y.iter().map(|v| *v as f64).sum::<f64>() / n;
    let (mut ss_res, mut ss_tot, mut abs) = (0.0, 0.0, 0.0);
    for (t, p) in y.iter().zip(pred) {
        let (t, p) = (*t as f64, *p as f64);
        ss_res += (t - p).powi(2);
        ss_tot += (t - mean).powi(2);
        abs += (t - p).abs();
    }
    let mut m = Map::new();
    put(
        &mut m,
        "r2",
        if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else {
            f64::NAN
        },
    );
    put(&mut m, "mse", ss_res / n);
    put(&mut m, "mae", abs / n);
    m
}

/// Regression scores of `k` targets per row (row-major): each metric is the unweighted mean
/// over the targets (scikit-learn's `multioutput='uniform_average'`), and `r2_per_target`
/// lists each target's r2. One target is plain [`regression`].
pub fn regression_joint(y: &[f32], pred: &[f32], k: usize) -> Map<String, Value> {
    if k <= 1 {
        return regression(y, pred);
    }
    let column =
        |v: &[f32], t: usize| -> Vec<f32> { v.iter().skip(t).step_by(k).copied().collect() };
    let per: Vec<Map<String, Value>> = (0..k)
        .map(|t| regression(&column(y, t), &column(pred, t)))
        .collect();
    let mut m = Map::new();
    for key in ["r2", "mse", "mae"] {
        let values: Vec<f64> = per
            .iter()
            .map(|s| s.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN))
            .collect();
        put(&mut m, key, values.iter().sum::<f64>() / k as f64);
    }
    m.insert(
        "r2_per_target".into(),
        Value::Array(
            per.iter()
                .map(|s| s.get("r2").cloned().unwrap_or(Value::Null))
                .collect(),
        ),
    );
    m
}

/// `y` and `pred` hold class indices; `proba` holds `k` probabilities per row.
pub fn classification(y: &[f32], pred: &[f32], proba: &[f32], k: usize) -> Map<String, Value> {
    let mut tp = vec![0usize; k];
    let mut fp = vec![0usize; k];
    let mut fn_ = vec![0usize; k];
    let mut seen = vec![false; k];
    let mut correct = 0usize;
    for (t, p) in y.iter().zip(pred) {
        let (t, p) = (*t as usize, *p as usize);
        seen[t] = true;
        seen[p] = true;
        if t == p {
            tp[t] += 1;
            correct += 1;
        } else {
            fp[p] += 1;
            fn_[t] += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    // Macro averages over the classes present in the labels or the predictions (as sklearn).
    let classes: Vec<usize> = (0..k).filter(|c| seen[*c]).collect();
    let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
    for &c in &classes {
        let pr = ratio(tp[c], tp[c] + fp[c]);
        let rc = ratio(tp[c], tp[c] + fn_[c]);
        precision += pr;
        recall += rc;
        f1 += if pr + rc > 0.0 {
            2.0 * pr * rc / (pr + rc)
        } else {
            0.0
        };
    }
    let nc = classes.len().max(1) as f64;
    let mut m = Map::new();
    put(&mut m, "accuracy", ratio(correct, y.len()));
    put(&mut m, "precision", precision / nc);
    put(&mut m, "recall", recall / nc);
    put(&mut m, "f1", f1 / nc);
    if k == 2 && proba.len() == 2 * y.len() {
        let p1: Vec<f64> = proba.chunks_exact(2).map(|r| r[1] as f64).collect();
        put(&mut m, "roc_auc", roc_auc(y, &p1));
        put(&mut m, "log_loss", log_loss(y, &p1));
    }
    m
}

/// Most rows the silhouette looks at: it is quadratic in the rows.
pub const SILHOUETTE_MAX_ROWS: usize = 2000;

/// Mean silhouette coefficient of a clustering (scikit-learn's silhouette_score, Euclidean),
/// over the first [`SILHOUETTE_MAX_ROWS`] rows. NaN when there are fewer than two clusters.
pub fn silhouette(x: &[f32], num_features: usize, labels: &[f32]) -> f64 {
    let n = labels.len().min(SILHOUETTE_MAX_ROWS);
    let d = num_features.max(1);
    let row = |i: usize| &x[i * d..(i + 1) * d];
    let dist = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| (f64::from(*p) - f64::from(*q)).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let mut clusters: Vec<f32> = labels[..n].to_vec();
    clusters.sort_by(f32::total_cmp);
    clusters.dedup();
    if clusters.len() < 2 {
        return f64::NAN;
    }
    let mut total = 0.0;
    for i in 0..n {
        let mut sums = vec![0.0; clusters.len()];
        let mut counts = vec![0usize; clusters.len()];
        for (j, label) in labels[..n].iter().enumerate() {
            if i != j {
                let c = clusters.partition_point(|v| v < label);
                sums[c] += dist(row(i), row(j));
                counts[c] += 1;
            }
        }
        let own = clusters.partition_point(|v| *v < labels[i]);
        if counts[own] == 0 {
            continue; // a singleton cluster scores 0
        }
        let a = sums[own] / counts[own] as f64;
        let b = (0..clusters.len())
            .filter(|c| *c != own && counts[*c] > 0)
            .map(|c| sums[c] / counts[c] as f64)
            .fold(f64::INFINITY, f64::min);
        total += (b - a) / a.max(b);
    }
    total / n as f64
}

/// Area under the ROC curve: the Mann-Whitney U statistic with average ranks for ties.
pub fn roc_auc(y: &[f32], score: &[f64]) -> f64 {
    let mut idx: Vec<usize> = (0..y.len()).collect();
    idx.sort_by(|a, b| score[*a].total_cmp(&score[*b]));
    let mut ranks = vec![0.0; y.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for r in &idx[i..=j] {
            ranks[*r] = avg;
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|v| **v == 1.0).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = y
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v == 1.0)
        .map(|(_, r)| r)
        .sum();
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

pub fn log_loss(y: &[f32], p1: &[f64]) -> f64 {
    const EPS: f64 = 1e-15;
    let sum: f64 = y
        .iter()
        .zip(p1)
        .map(|(t, p)| {
            let p = p.clamp(EPS, 1.0 - EPS);
            if *t == 1.0 {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    sum / y.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(m: &Map<String, Value>, k: &str) -> f64 {
        m[k].as_f64().unwrap()
    }

    #[test]
    fn joint_scores_average_the_targets() {
        // target 0 predicted exactly (r2 1), target 1 predicted by its mean (r2 0)
        let y = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0];
        let pred = [1.0, 20.0, 2.0, 20.0, 3.0, 20.0];
        let m = regression_joint(&y, &pred, 2);
        assert!((m["r2"].as_f64().unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(m["r2_per_target"], serde_json::json!([1.0, 0.0]));
        assert!((m["mse"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(regression_joint(&y, &y, 1), regression(&y, &y));
    }

    #[test]
    fn regression_scores() {
        let m = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
        assert!((get(&m, "mse") - 1.0 / 3.0).abs() < 1e-12);
        assert!((get(&m, "mae") - 1.0 / 3.0).abs() < 1e-12);
        assert!((get(&m, "r2") - 0.5).abs() < 1e-12);
        assert!(regression(&[2.0, 2.0], &[2.0, 2.0])["r2"].is_null());
    }

    #[test]
    fn classification_macro_scores_match_sklearn() {
        // sklearn: y=[0,0,1,1,2], p=[0,1,1,1,2] -> precision 0.8889, recall 0.8333, f1 0.8222
        let y = [0.0, 0.0, 1.0, 1.0, 2.0];
        let p = [0.0, 1.0, 1.0, 1.0, 2.0];
        let m = classification(&y, &p, &[], 3);
        assert!((get(&m, "accuracy") - 0.8).abs() < 1e-12);
        assert!((get(&m, "precision") - 0.888889).abs() < 1e-5);
        assert!((get(&m, "recall") - 0.833333).abs() < 1e-5);
        assert!((get(&m, "f1") - 0.822222).abs() < 1e-5);
        assert!(m.get("roc_auc").is_none());
    }

    #[test]
    fn silhouette_matches_sklearn() {
        // sklearn.metrics.silhouette_score([[0],[1],[10],[11]], [0,0,1,1]) == 0.8997493734
        // (per point: (10.5-1)/10.5, (9.5-1)/9.5, and the same for the other cluster)
        let s = silhouette(&[0.0, 1.0, 10.0, 11.0], 1, &[0.0, 0.0, 1.0, 1.0]);
        assert!((s - 0.899_749_373_4).abs() < 1e-9, "{s}");
        assert!(silhouette(&[0.0, 1.0], 1, &[0.0, 0.0]).is_nan());
    }

    #[test]
    fn auc_and_log_loss() {
        // sklearn roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.75
        assert!((roc_auc(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.4, 0.35, 0.8]) - 0.75).abs() < 1e-12);
        assert!((roc_auc(&[0.0, 1.0], &[0.5, 0.5]) - 0.5).abs() < 1e-12);
        // sklearn log_loss([0,1],[[.9,.1],[.2,.8]]) == 0.164252
        assert!((log_loss(&[0.0, 1.0], &[0.1, 0.8]) - 0.164252).abs() < 1e-6);
        let m = classification(&[0.0, 1.0], &[0.0, 1.0], &[0.9, 0.1, 0.2, 0.8], 2);
        assert!(m.contains_key("roc_auc") && m.contains_key("log_loss"));
    }
}
