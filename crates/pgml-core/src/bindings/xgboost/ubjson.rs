//! A check of an XGBoost model's bytes (UBJSON, as pgml saves them) before they reach the
//! library.
//!
//! XGBoost 3.4 trusts what it loads. Its UBJSON reader (`UBJReader`, src/common/json.cc)
//! copies string and array lengths with `memcpy` without comparing them with what is left,
//! reads numbers past the end, and loops forever on an unterminated array; its tree loader
//! (`RegTree::LoadModel`) indexes nodes by the stored parent ids; its predictor follows the
//! stored child ids. Bytes in `pgml.files` come from a table that anyone with UPDATE on it
//! can change, and src/tests/fuzz.rs crashed the process (and so would crash the server) with a
//! flipped length byte, a parent id of 2^31 and a child id of 2^31. [`check`] parses the
//! bytes under the same grammar, accepting only what the reader stays inside of, then checks
//! every index the loader and the predictor use.

/// XGBoost's own models nest about 8 deep; the reader recurses once per level.
const MAX_DEPTH: usize = 64;

/// What the checks need of a parsed model: integer arrays kept, float arrays only counted
/// (a large model's leaf values would otherwise be copied for nothing).
#[derive(Debug, PartialEq)]
enum U {
    Object(Vec<(String, U)>),
    Array(Vec<U>),
    Ints(Vec<i64>),
    Floats(usize),
    Text(String),
    Int(i64),
    Float,
    Other,
}

impl U {
    fn get(&self, key: &str) -> Option<&U> {
        match self {
            U::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn at(&self, key: &str) -> Result<&U, String> {
        self.get(key).ok_or_else(|| format!("no \"{key}\""))
    }

    fn len(&self) -> Option<usize> {
        match self {
            U::Array(a) => Some(a.len()),
            U::Ints(v) => Some(v.len()),
            U::Floats(n) => Some(*n),
            _ => None,
        }
    }

    /// An array of integers, typed or not.
    fn ints(&self, what: &str) -> Result<Vec<i64>, String> {
        match self {
            U::Ints(v) => Ok(v.clone()),
            U::Array(a) => a
                .iter()
                .map(|x| match x {
                    U::Int(i) => Ok(*i),
                    _ => Err(format!("{what} holds a non-integer")),
                })
                .collect(),
            _ => Err(format!("{what} is not an integer array")),
        }
    }

    /// A count stored as text ("12"), as XGBoost writes its parameters.
    fn count(&self, key: &str) -> Result<usize, String> {
        match self.get(key) {
            Some(U::Text(t)) => t.parse().map_err(|_| format!("{key} {t:?} is not a count")),
            _ => Err(format!("no count \"{key}\"")),
        }
    }
}

/// Why `bytes` are not a model XGBoost can load and serve without reading out of bounds.
pub fn check(bytes: &[u8]) -> Result<(), String> {
    structure(&parse(bytes)?)
}

/// A tree's per-node statistics, which the compiled trees do not read: left out of
/// [`to_json`]'s text (they were 3 of its 4 float arrays, most of its cost).
const NOT_COMPILED: [&str; 4] = ["loss_changes", "sum_hessian", "base_weights", "parents"];

/// The model in `bytes` as JSON text, the document XGBoost's own JSON writer would give
/// less the fields in NOT_COMPILED (numbers as Rust's shortest round-trip decimals, so every f32 reads back exactly; a NaN
/// or an infinity is written as `NaN` / `inf`, which a JSON parser refuses). Why: the
/// compiled trees are read from this, so that a backend (or a parallel worker) serving a
/// covered model never loads it into XGBoost, whose load and JSON dump took most of a first
/// predict (~20 ms for 100 trees).
pub fn to_json(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut json = String::with_capacity(2 * bytes.len());
    walk(bytes, Some(&mut json))?;
    Ok(json.into_bytes())
}

fn parse(bytes: &[u8]) -> Result<U, String> {
    walk(bytes, None)
}

fn walk(bytes: &[u8], json: Option<&mut String>) -> Result<U, String> {
    if bytes.first() != Some(&b'{') {
        return Err("not an XGBoost UBJSON model (it starts with '{')".into());
    }
    let mut walk = Walk { bytes, at: 0, json };
    let model = walk.value(0)?;
    if walk.at != bytes.len() {
        return Err(format!(
            "{} bytes after the model's end",
            bytes.len() - walk.at
        ));
    }
    Ok(model)
}

/// Largest category a split may hold: XGBoost sizes a bitset by it.
const MAX_CATEGORY: i64 = 1 << 24;

fn structure(model: &U) -> Result<(), String> {
    let learner = model.at("learner")?;
    let param = learner.at("learner_model_param")?;
    let features = param.count("num_feature")?;
    let outputs = param
        .count("num_class")?
        .max(param.count("num_target").unwrap_or(1))
        .max(1);
    let booster = learner.at("gradient_booster")?;
    let name = match booster.at("name")? {
        U::Text(t) => t.as_str(),
        _ => return Err("the booster has no name".into()),
    };
    let body = booster.at("model")?;
    if name == "gblinear" {
        let weights = body.at("weights")?.len().unwrap_or(0);
        if Some(weights) != (features + 1).checked_mul(outputs) {
            return Err(format!(
                "{weights} gblinear weights for {features} features and {outputs} outputs"
            ));
        }
        return Ok(());
    }
    if name != "gbtree" {
        return Err(format!("a {name} booster"));
    }
    let U::Array(trees) = body.at("trees")? else {
        return Err("trees is not an array".into());
    };
    let info = body.at("tree_info")?.ints("tree_info")?;
    if info.len() != trees.len() || info.iter().any(|g| !(0..outputs as i64).contains(g)) {
        return Err("tree_info does not match the trees and outputs".into());
    }
    for (t, tree) in trees.iter().enumerate() {
        self::tree(tree, features).map_err(|e| format!("tree {t}: {e}"))?;
    }
    Ok(())
}

fn tree(tree: &U, features: usize) -> Result<(), String> {
    let param = tree.at("tree_param")?;
    let n = param.count("num_nodes")?;
    if param.count("size_leaf_vector").unwrap_or(1) > 1 {
        // Vector-leaf trees (multi_strategy = multi_output_tree, pgml.train_joint): their
        // loader looks each array up without checking it exists, and sizes the float arrays
        // by their own lengths. Node ids are checked below as for scalar trees.
        for key in [
            "base_weights",
            "leaf_weights",
            "split_conditions",
            "default_left",
        ] {
            tree.at(key)?;
        }
    } else {
        for key in [
            "loss_changes",
            "sum_hessian",
            "base_weights",
            "split_conditions",
            "default_left",
        ] {
            if tree.at(key)?.len() != Some(n) {
                return Err(format!("{key} has not num_nodes {n} values"));
            }
        }
    }
    let [left, right, parents, features_of] = [
        "left_children",
        "right_children",
        "parents",
        "split_indices",
    ]
    .map(|k| {
        tree.at(k).and_then(|v| v.ints(k)).and_then(|v| {
            (v.len() == n)
                .then_some(v)
                .ok_or(format!("{k} has not {n} values"))
        })
    });
    let (left, right, parents, features_of) = (left?, right?, parents?, features_of?);
    if n == 0 || n > i32::MAX as usize {
        return Err(format!("num_nodes {n}"));
    }
    // The loader sets each node's parent link through the stored parent id (31 bits).
    if (1..n).any(|i| (parents[i] & 0x7fff_ffff) as usize >= n) {
        return Err("a parent id out of range".into());
    }
    // The predictor walks from the root: children in range, each node reached once.
    let mut seen = vec![false; n];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            return Err(format!("node {i} is reached twice"));
        }
        if left[i] == -1 {
            continue;
        }
        let in_range = |c: i64| usize::try_from(c).ok().filter(|c| *c < n);
        match (in_range(left[i]), in_range(right[i])) {
            (Some(a), Some(b)) if usize::try_from(features_of[i]).is_ok_and(|f| f < features) => {
                stack.extend([a, b])
            }
            _ => return Err(format!("node {i} has a child or feature out of range")),
        }
    }
    if let Some(types) = tree.get("split_type") {
        if types.len() != Some(n) {
            return Err(format!("split_type has not {n} values"));
        }
        let [nodes, segments, sizes, categories] = [
            "categories_nodes",
            "categories_segments",
            "categories_sizes",
            "categories",
        ]
        .map(|k| tree.at(k).and_then(|v| v.ints(k)));
        let (nodes, segments, sizes, categories) = (nodes?, segments?, sizes?, categories?);
        let inside = segments.len() >= nodes.len()
            && sizes.len() >= nodes.len()
            && (segments.iter().zip(&sizes))
                .take(nodes.len())
                .all(|(s, z)| {
                    *s >= 0
                        && *z > 0
                        && s.checked_add(*z)
                            .is_some_and(|e| e as u64 <= categories.len() as u64)
                })
            && categories.iter().all(|c| (0..MAX_CATEGORY).contains(c));
        if !inside {
            return Err("categorical splits out of range".into());
        }
    }
    Ok(())
}

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Where the values walked are written as JSON, when they are.
    json: Option<&'a mut String>,
}

impl Walk<'_> {
    fn emit(&mut self, text: &str) {
        if let Some(j) = self.json.as_deref_mut() {
            j.push_str(text);
        }
    }

    fn emit_with(&mut self, write: impl FnOnce(&mut String)) {
        if let Some(j) = self.json.as_deref_mut() {
            write(j);
        }
    }

    /// A JSON string (serde_json escapes it).
    fn emit_string(&mut self, s: &str) {
        self.emit_with(|j| j.push_str(&serde_json::Value::from(s).to_string()));
    }

    fn emit_int(&mut self, v: i64) {
        self.emit_with(|j| {
            use std::fmt::Write;
            let _ = write!(j, "{v}");
        });
    }

    /// A float in the shortest form that reads back as the same value.
    fn emit_float(&mut self, b: &[u8]) {
        self.emit_with(|j| {
            use std::fmt::Write;
            let _ = match b.len() {
                4 => write!(j, "{:e}", f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                _ => write!(
                    j,
                    "{:e}",
                    f64::from_be_bytes(b.try_into().unwrap_or([0; 8]))
                ),
            };
        });
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn next(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| format!("ends inside a value at byte {}", self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn peek(&self) -> Result<u8, String> {
        self.bytes
            .get(self.at)
            .copied()
            .ok_or_else(|| format!("ends inside a container at byte {}", self.at))
    }

    fn expect(&mut self, want: u8) -> Result<(), String> {
        let at = self.at;
        match self.next()? {
            b if b == want => Ok(()),
            b => Err(format!(
                "byte {at} is {b:#04x}, expected '{}'",
                want as char
            )),
        }
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if n > self.left() {
            return Err(format!(
                "a length of {n} at byte {} runs past the end ({} bytes left)",
                self.at,
                self.left()
            ));
        }
        self.at += n;
        Ok(&self.bytes[self.at - n..self.at])
    }

    /// A big-endian signed integer of `size` bytes (1 byte: signed for 'i', unsigned for 'U').
    fn int(&mut self, size: usize, unsigned: bool) -> Result<i64, String> {
        let b = self.take(size)?;
        Ok(match (size, unsigned) {
            (1, true) => b[0] as i64,
            (1, false) => b[0] as i8 as i64,
            (2, _) => i16::from_be_bytes([b[0], b[1]]) as i64,
            (4, _) => i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_be_bytes(b.try_into().expect("8 bytes")),
        })
    }

    /// 'L' and a big-endian int64 length or count, which must fit in what is left when each
    /// item takes `item` bytes.
    fn length(&mut self, item: usize) -> Result<usize, String> {
        self.expect(b'L')?;
        let at = self.at;
        let n = self.int(8, false)?;
        match usize::try_from(n) {
            Ok(n)
                if n.checked_mul(item)
                    .is_some_and(|total| total <= self.left()) =>
            {
                Ok(n)
            }
            _ => Err(format!(
                "a length of {n} at byte {at} does not fit in the {} bytes left",
                self.left()
            )),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.length(1)?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn value(&mut self, depth: usize) -> Result<U, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} deep"));
        }
        let at = self.at;
        let int = |walk: &mut Self, size, unsigned| {
            let v = walk.int(size, unsigned)?;
            walk.emit_int(v);
            Ok::<_, String>(U::Int(v))
        };
        let float = |walk: &mut Self, size| {
            let b = walk.take(size)?.to_vec();
            walk.emit_float(&b);
            Ok::<_, String>(U::Float)
        };
        Ok(match self.next()? {
            b'{' => {
                self.emit("{");
                let mut fields = vec![];
                let mut written = 0;
                while self.peek()? != b'}' {
                    let key = self.string()?;
                    if self.json.is_some() && NOT_COMPILED.contains(&key.as_str()) {
                        // Walked (and checked) without being written.
                        let json = self.json.take();
                        let value = self.value(depth + 1);
                        self.json = json;
                        fields.push((key, value?));
                        continue;
                    }
                    self.emit(if written == 0 { "" } else { "," });
                    written += 1;
                    self.emit_string(&key);
                    self.emit(":");
                    fields.push((key, self.value(depth + 1)?));
                }
                self.at += 1;
                self.emit("}");
                U::Object(fields)
            }
            b'[' => self.array(depth)?,
            b'Z' => {
                self.emit("null");
                U::Other
            }
            b'T' => {
                self.emit("true");
                U::Other
            }
            b'F' => {
                self.emit("false");
                U::Other
            }
            b'i' | b'C' => int(self, 1, false)?,
            b'U' => int(self, 1, true)?,
            b'I' => int(self, 2, false)?,
            b'l' => int(self, 4, false)?,
            b'L' => int(self, 8, false)?,
            b'd' => float(self, 4)?,
            b'D' => float(self, 8)?,
            b'S' => {
                let text = self.string()?;
                self.emit_string(&text);
                U::Text(text)
            }
            b => return Err(format!("byte {at} is {b:#04x}, not a UBJSON value")),
        })
    }

    fn array(&mut self, depth: usize) -> Result<U, String> {
        self.emit("[");
        let comma = |walk: &mut Self, i: usize| walk.emit(if i == 0 { "" } else { "," });
        let array = match self.peek()? {
            b'$' => {
                self.at += 1;
                let at = self.at;
                let (size, float, unsigned) = match self.next()? {
                    b'i' => (1, false, false),
                    b'U' => (1, false, true),
                    b'I' => (2, false, false),
                    b'l' => (4, false, false),
                    b'L' => (8, false, false),
                    b'd' => (4, true, false),
                    b'D' => (8, true, false),
                    b => return Err(format!("byte {at} is {b:#04x}, not a typed array's type")),
                };
                self.expect(b'#')?;
                let n = self.length(size)?;
                if float {
                    let emitting = self.json.is_some();
                    let values = self.take(n * size)?;
                    if emitting {
                        for (i, b) in values.to_vec().chunks_exact(size).enumerate() {
                            comma(self, i);
                            self.emit_float(b);
                        }
                    }
                    U::Floats(n)
                } else {
                    let mut ints = Vec::with_capacity(n);
                    for i in 0..n {
                        let v = self.int(size, unsigned)?;
                        comma(self, i);
                        self.emit_int(v);
                        ints.push(v);
                    }
                    U::Ints(ints)
                }
            }
            b'#' => {
                self.at += 1;
                // Every element takes at least one byte.
                let n = self.length(1)?;
                let mut items = Vec::with_capacity(n);
                for i in 0..n {
                    comma(self, i);
                    items.push(self.value(depth + 1)?);
                }
                U::Array(items)
            }
            _ => {
                let mut items = vec![];
                while self.peek()? != b']' {
                    comma(self, items.len());
                    items.push(self.value(depth + 1)?);
                }
                self.at += 1;
                U::Array(items)
            }
        };
        self.emit("]");
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, to_json};

    fn key(s: &str) -> Vec<u8> {
        let mut v = vec![b'L'];
        v.extend_from_slice(&(s.len() as i64).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    }

    /// The header of a typed array of `n` values of type `tag` (`[$<tag>#L<n>`).
    fn typed(tag: u8, n: i64) -> Vec<u8> {
        let mut v = vec![b'[', b'$', tag, b'#', b'L'];
        v.extend(n.to_be_bytes());
        v
    }

    #[test]
    fn transcodes_to_the_json_document_with_exact_floats() {
        let mut doc = vec![b'{'];
        doc.extend(key("f"));
        doc.extend(typed(b'd', 3));
        for v in [0.1f32, -3.5e-30, f32::MAX] {
            doc.extend(v.to_be_bytes());
        }
        doc.extend(key("u"));
        doc.extend(typed(b'U', 2));
        doc.extend([0u8, 255]);
        doc.extend(key("m\"ixed"));
        doc.extend([b'[', b'i', 0xff, b'l']);
        doc.extend((-70000i32).to_be_bytes());
        doc.extend([b'S']);
        doc.extend(key("12"));
        doc.extend([b'D']);
        doc.extend(0.1f64.to_be_bytes());
        // A per-node statistic the compiler does not read is left out.
        doc.extend([b'T', b'F', b'Z', b'{']);
        doc.extend(key("parents"));
        doc.extend([b'i', 5, b'}', b']', b'}']);
        let json = String::from_utf8(to_json(&doc).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"f":[1e-1,-3.5e-30,3.4028235e38],"u":[0,255],"m\"ixed":[-1,-70000,"12",1e-1,true,false,null,{}]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let floats: Vec<f32> = v["f"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.to_string().parse().unwrap())
            .collect();
        assert_eq!(
            floats,
            [0.1f32, -3.5e-30, f32::MAX],
            "every f32 reads back exactly"
        );
        // NaN is not JSON: a model holding one is refused by the compiler (and served by
        // the library), not misread.
        let mut nan = vec![b'{'];
        nan.extend(key("x"));
        nan.push(b'd');
        nan.extend(f32::NAN.to_be_bytes());
        nan.push(b'}');
        let text = to_json(&nan).unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&text).is_err());
        // Truncated bytes are refused as by the check.
        assert!(to_json(&doc[..doc.len() - 1]).is_err());
    }

    #[test]
    fn accepts_the_grammar_and_refuses_what_would_read_past_the_end() {
        let mut ok = vec![b'{'];
        ok.extend(key("a"));
        ok.extend(typed(b'd', 2));
        ok.extend([0u8; 8]);
        ok.extend(key("b"));
        ok.extend([b'[', b'i', 1, b'S']);
        ok.extend(key("x"));
        ok.extend([b']', b'}']);
        assert!(parse(&ok).is_ok());
        // Every truncation is refused (the reader would read past the end).
        for n in 0..ok.len() {
            assert!(parse(&ok[..n]).is_err(), "truncated to {n}");
        }
        // A string length past the end, a negative count, trailing bytes, deep nesting.
        let mut long = ok.clone();
        long[2 + 7] = 0xff;
        assert!(parse(&long).is_err());
        let mut negative = ok.clone();
        negative[16..24].copy_from_slice(&(-1i64).to_be_bytes());
        assert!(parse(&negative).is_err());
        let mut trailing = ok.clone();
        trailing.push(b'Z');
        assert!(parse(&trailing).is_err());
        let mut deep = vec![b'{'];
        deep.extend(key("a"));
        deep.extend(vec![b'['; 100]);
        deep.extend(vec![b']'; 100]);
        deep.push(b'}');
        assert!(parse(&deep).unwrap_err().contains("deep"));
    }
}
