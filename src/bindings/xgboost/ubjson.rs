//! A check of an XGBoost model's bytes (UBJSON, as pgml saves them) before they reach the
//! library.
//!
//! XGBoost 3.4 trusts what it loads. Its UBJSON reader (`UBJReader`, src/common/json.cc)
//! copies string and array lengths with `memcpy` without comparing them with what is left,
//! reads numbers past the end, and loops forever on an unterminated array; its tree loader
//! (`RegTree::LoadModel`) indexes nodes by the stored parent ids; its predictor follows the
//! stored child ids. Bytes in `pgml.files` come from a table that anyone with UPDATE on it
//! can change, and src/fuzz.rs crashed the process (and so would crash the server) with a
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

fn parse(bytes: &[u8]) -> Result<U, String> {
    if bytes.first() != Some(&b'{') {
        return Err("not an XGBoost UBJSON model (it starts with '{')".into());
    }
    let mut walk = Walk { bytes, at: 0 };
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
}

impl Walk<'_> {
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
        Ok(match self.next()? {
            b'{' => {
                let mut fields = vec![];
                while self.peek()? != b'}' {
                    let key = self.string()?;
                    fields.push((key, self.value(depth + 1)?));
                }
                self.at += 1;
                U::Object(fields)
            }
            b'[' => self.array(depth)?,
            b'Z' | b'T' | b'F' => U::Other,
            b'i' | b'C' => U::Int(self.int(1, false)?),
            b'U' => U::Int(self.int(1, true)?),
            b'I' => U::Int(self.int(2, false)?),
            b'l' => U::Int(self.int(4, false)?),
            b'L' => U::Int(self.int(8, false)?),
            b'd' => self.take(4).map(|_| U::Float)?,
            b'D' => self.take(8).map(|_| U::Float)?,
            b'S' => U::Text(self.string()?),
            b => return Err(format!("byte {at} is {b:#04x}, not a UBJSON value")),
        })
    }

    fn array(&mut self, depth: usize) -> Result<U, String> {
        match self.peek()? {
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
                    self.take(n * size)?;
                    return Ok(U::Floats(n));
                }
                (0..n)
                    .map(|_| self.int(size, unsigned))
                    .collect::<Result<_, _>>()
                    .map(U::Ints)
            }
            b'#' => {
                self.at += 1;
                // Every element takes at least one byte.
                let n = self.length(1)?;
                (0..n)
                    .map(|_| self.value(depth + 1))
                    .collect::<Result<_, _>>()
                    .map(U::Array)
            }
            _ => {
                let mut items = vec![];
                while self.peek()? != b']' {
                    items.push(self.value(depth + 1)?);
                }
                self.at += 1;
                Ok(U::Array(items))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn key(s: &str) -> Vec<u8> {
        let mut v = vec![b'L'];
        v.extend_from_slice(&(s.len() as i64).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn accepts_the_grammar_and_refuses_what_would_read_past_the_end() {
        let mut ok = vec![b'{'];
        ok.extend(key("a"));
        ok.extend([b'[', b'$', b'd', b'#', b'L']);
        ok.extend(2i64.to_be_bytes());
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
