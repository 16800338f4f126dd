//! Hyperparameters: a JSON object checked against each backend's list of names and types.

use super::{BindingError, Result};
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Int,
    Float,
    Bool,
    Text,
    /// Passed through to the library as text (e.g. XGBoost's `monotone_constraints`).
    Any,
}

impl ParamKind {
    /// The kind as pgml.hyperparameters() lists it.
    pub fn name(self) -> &'static str {
        match self {
            ParamKind::Int => "integer",
            ParamKind::Float => "number",
            ParamKind::Bool => "boolean",
            ParamKind::Text => "string",
            ParamKind::Any => "any",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ParamKind::Int => "an integer",
            ParamKind::Float => "a number",
            ParamKind::Bool => "a boolean",
            ParamKind::Text => "a string",
            ParamKind::Any => "a value",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            ParamKind::Int => v.as_i64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            ParamKind::Float => v.is_number(),
            ParamKind::Bool => v.is_boolean(),
            ParamKind::Text => v.is_string(),
            ParamKind::Any => !v.is_null(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    /// The name the library's own messages use where `name` is an alias of it (XGBoost
    /// says "learning_rate" of an `eta`, LightGBM "num_leaves" of a `max_leaves`).
    pub canonical: Option<&'static str>,
}

pub const fn p(name: &'static str, kind: ParamKind) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        canonical: None,
    }
}

impl ParamSpec {
    /// This name as an alias of the library's `canonical` one.
    pub const fn alias_of(self, canonical: &'static str) -> ParamSpec {
        ParamSpec {
            canonical: Some(canonical),
            ..self
        }
    }
}

/// Whether `message` has `word` with no letter, digit or underscore on either side.
fn has_word(message: &str, word: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || c == '_';
    !word.is_empty()
        && message.match_indices(word).any(|(at, _)| {
            !message[..at].chars().next_back().is_some_and(part)
                && !message[at + word.len()..].chars().next().is_some_and(part)
        })
}

/// Every library's names for the training's thread count (checked against the server's cap).
pub const THREAD_PARAMS: &[&str] = &["nthread", "num_threads", "n_jobs", "num_thread", "nthreads"];

/// Longest value text passed to a library (a constraint list for a few hundred features).
const MAX_TEXT: usize = 4096;

/// Whether a value's library text is one word of the alphabet hyperparameter values use
/// (names like `reg:squarederror`, numbers like `-1e-05`, lists like `[[0,1],[2,3]]` or
/// `(1,-1)`): no whitespace, `=`, quote, path separator or control character, so that no
/// library's parser can read it as a second parameter or a file name.
fn is_one_word(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_TEXT
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.,:+-()[]".contains(&b))
}

/// A validated-on-demand JSON object of hyperparameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hyperparams(pub Map<String, Value>);

impl Hyperparams {
    pub fn new(map: Map<String, Value>) -> Self {
        Hyperparams(map)
    }

    pub fn validate(&self, algorithm: &'static str, specs: &[ParamSpec]) -> Result<()> {
        for (name, value) in &self.0 {
            let Some(spec) = specs.iter().find(|s| s.name == name) else {
                return Err(BindingError::UnknownHyperparam {
                    algorithm,
                    name: name.clone(),
                    valid: specs.iter().map(|s| s.name).collect(),
                });
            };
            if !spec.kind.accepts(value) {
                return Err(BindingError::InvalidHyperparam {
                    name: name.clone(),
                    expected: spec.kind.describe(),
                    got: value.to_string(),
                });
            }
            // Every kind, as the library will read it: a number's or a list's text too.
            let text = Self::as_library_text(value);
            if !is_one_word(&text) {
                return Err(BindingError::UnsafeHyperparam {
                    name: name.clone(),
                    got: value.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Errs when a thread-count hyperparameter (any library's name for it) asks for more
    /// than `max` threads, or for 0 or fewer (the libraries read those as "every core").
    pub fn check_threads(&self, max: usize) -> Result<()> {
        for name in THREAD_PARAMS {
            let Some(value) = self.get(name) else {
                continue;
            };
            let n = value.as_i64().or_else(|| value.as_f64().map(|f| f as i64));
            if n.is_none_or(|n| n < 1 || n as u64 > max as u64) {
                return Err(BindingError::TooManyThreads {
                    name: name.to_string(),
                    got: value.to_string(),
                    max,
                });
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
    }

    pub fn float(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(Value::as_f64)
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Value::as_bool)
    }

    /// Integer that must lie in `lo..=hi`.
    pub fn int_in(&self, name: &str, lo: i64, hi: i64) -> Result<Option<i64>> {
        match self.int(name) {
            Some(v) if v < lo || v > hi => Err(BindingError::InvalidHyperparam {
                name: name.into(),
                expected: "an integer in range",
                got: format!("{v} (allowed {lo}..={hi})"),
            }),
            other => Ok(other),
        }
    }

    /// A text hyperparameter that must be one of `options`; the first is the default.
    pub fn choice<T: Clone>(&self, name: &str, options: &[(&str, T)]) -> Result<T> {
        match self.get(name).and_then(Value::as_str) {
            None => Ok(options[0].1.clone()),
            Some(given) => options
                .iter()
                .find(|(n, _)| *n == given)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| BindingError::InvalidHyperparam {
                    name: name.into(),
                    expected: "one of its listed values",
                    got: format!(
                        "{given} (valid: {})",
                        options
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
        }
    }

    /// The first given hyperparameter (in the order given) that a library's `message` is
    /// about, with its value: one it names as a whole word ("max_depth" in "value -1 for
    /// Parameter max_depth should be ...", not "depth"), by the user's name or the
    /// library's own for that alias in `specs`, or one whose text value it names ("Invalid
    /// Input: 'bogus', valid values are ...").
    pub fn named_in(&self, message: &str, specs: &[ParamSpec]) -> Option<(&str, &Value)> {
        self.0.iter().find_map(|(name, value)| {
            let canonical = specs
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.canonical);
            let about = has_word(message, name)
                || canonical.is_some_and(|c| has_word(message, c))
                || value.as_str().is_some_and(|v| has_word(message, v));
            about.then_some((name.as_str(), value))
        })
    }

    /// The value as the text a C library's string-keyed parameter API expects.
    pub fn as_library_text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPECS: &[ParamSpec] = &[p("max_depth", ParamKind::Int), p("eta", ParamKind::Float)];

    fn hp(v: Value) -> Hyperparams {
        Hyperparams::new(v.as_object().unwrap().clone())
    }

    #[test]
    fn accepts_known_names_and_types() {
        assert!(hp(json!({"max_depth": 3, "eta": 0.1}))
            .validate("x", SPECS)
            .is_ok());
        assert!(hp(json!({"eta": 1})).validate("x", SPECS).is_ok());
        assert!(hp(json!({"max_depth": 3.0})).validate("x", SPECS).is_ok());
    }

    #[test]
    fn rejects_unknown_name_listing_valid_ones() {
        let err = hp(json!({"depth": 3})).validate("x", SPECS).unwrap_err();
        match err {
            BindingError::UnknownHyperparam { name, valid, .. } => {
                assert_eq!(name, "depth");
                assert_eq!(valid, vec!["max_depth", "eta"]);
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn rejects_wrong_type() {
        let err = hp(json!({"max_depth": "deep"}))
            .validate("x", SPECS)
            .unwrap_err();
        assert!(matches!(err, BindingError::InvalidHyperparam { .. }));
        let err = hp(json!({"max_depth": 2.5}))
            .validate("x", SPECS)
            .unwrap_err();
        assert!(matches!(err, BindingError::InvalidHyperparam { .. }));
    }

    #[test]
    fn range_checked_ints() {
        let h = hp(json!({"max_depth": -1}));
        assert!(h.int_in("max_depth", 0, 10).is_err());
        assert_eq!(
            hp(json!({"max_depth": 4}))
                .int_in("max_depth", 0, 10)
                .unwrap(),
            Some(4)
        );
        assert_eq!(hp(json!({})).int_in("max_depth", 0, 10).unwrap(), None);
    }

    #[test]
    fn choices() {
        let opts = [("a", 1), ("b", 2)];
        assert_eq!(hp(json!({})).choice("x", &opts).unwrap(), 1);
        assert_eq!(hp(json!({"x": "b"})).choice("x", &opts).unwrap(), 2);
        let e = hp(json!({"x": "c"})).choice("x", &opts).unwrap_err();
        assert!(
            matches!(e, BindingError::InvalidHyperparam { got, .. } if got == "c (valid: a, b)")
        );
    }

    #[test]
    fn names_a_given_hyperparameter_as_a_whole_word() {
        let specs = &[
            p("max_depth", ParamKind::Int),
            p("eta", ParamKind::Float).alias_of("learning_rate"),
            p("tree_method", ParamKind::Text),
        ];
        let h = hp(json!({"depth": 3, "max_depth": -1}));
        let m = "value -1 for Parameter max_depth should be greater equal to 0";
        assert_eq!(h.named_in(m, specs), Some(("max_depth", &json!(-1))));
        assert_eq!(hp(json!({"depth": 3})).named_in(m, specs), None);
        assert_eq!(hp(json!({"max": 3})).named_in(m, specs), None);
        assert_eq!(hp(json!({})).named_in(m, specs), None);
        assert_eq!(
            hp(json!({"num_leaves": 1})).named_in("Check failed: (num_leaves) > (1) at x.cpp", &[]),
            Some(("num_leaves", &json!(1)))
        );
        // By the library's name for the alias given.
        let m = "value -0.5 for Parameter learning_rate should be greater equal to 0";
        assert_eq!(
            hp(json!({"eta": -0.5})).named_in(m, specs),
            Some(("eta", &json!(-0.5)))
        );
        assert_eq!(hp(json!({"eta": -0.5})).named_in(m, &[]), None);
        // By a text value, but not by a number in the message.
        let m = "Invalid Input: 'bogus', valid values are: {'approx', 'hist'}";
        assert_eq!(
            hp(json!({"max_depth": 1, "tree_method": "bogus"})).named_in(m, specs),
            Some(("tree_method", &json!("bogus")))
        );
        assert_eq!(hp(json!({"tree_method": "bog"})).named_in(m, specs), None);
    }

    #[test]
    fn values_that_would_smuggle_a_parameter_are_refused() {
        let specs = &[
            p("boosting", ParamKind::Text),
            p("monotone_constraints", ParamKind::Any),
            p("eta", ParamKind::Float),
        ];
        for bad in [
            json!({"boosting": "gbdt max_depth=1 num_leaves=2"}),
            json!({"boosting": "gbdt\tforcedsplits_filename=/etc/passwd"}),
            json!({"boosting": "gbdt\nnum_threads=100000"}),
            json!({"boosting": "a=b"}),
            json!({"boosting": "../../x"}),
            json!({"boosting": ""}),
            json!({"monotone_constraints": ["a b"]}),
            json!({"monotone_constraints": "1 ,-1"}),
        ] {
            let e = hp(bad.clone()).validate("lightgbm", specs).unwrap_err();
            assert!(
                matches!(e, BindingError::UnsafeHyperparam { .. }),
                "{bad} gave {e:?}"
            );
        }
        for good in [
            json!({"boosting": "gbdt"}),
            json!({"boosting": "reg:squarederror"}),
            json!({"monotone_constraints": "(1,-1,0)"}),
            json!({"monotone_constraints": [1, -1, 0]}),
            json!({"monotone_constraints": "[[0,1],[2,3]]"}),
            json!({"eta": 1e-5}),
        ] {
            assert_eq!(
                hp(good.clone()).validate("lightgbm", specs),
                Ok(()),
                "{good}"
            );
        }
    }

    #[test]
    fn thread_counts_are_capped() {
        assert_eq!(hp(json!({"nthread": 2})).check_threads(2), Ok(()));
        assert_eq!(hp(json!({"eta": 0.3})).check_threads(1), Ok(()));
        for bad in [
            json!({"nthread": 3}),
            json!({"num_threads": 100000}),
            json!({"n_jobs": 0}),
            json!({"num_threads": -1}),
            json!({"nthreads": "many"}),
        ] {
            let e = hp(bad.clone()).check_threads(2).unwrap_err();
            assert!(
                matches!(e, BindingError::TooManyThreads { max: 2, .. }),
                "{bad} gave {e:?}"
            );
        }
    }

    #[test]
    fn library_text() {
        assert_eq!(Hyperparams::as_library_text(&json!(true)), "true");
        assert_eq!(Hyperparams::as_library_text(&json!("hist")), "hist");
        assert_eq!(Hyperparams::as_library_text(&json!(0.5)), "0.5");
    }
}
