use std::collections::BTreeMap;
use std::fmt;

/// What kind of value an attribute takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    Int,
    Float,
    Bool,
    /// A list of integers; a single integer is accepted and widened (e.g. `stride = 2` -> `[2, 2]`
    /// is done by the op's rule, not here).
    Ints,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// A literal tensor: a number or a nested list of numbers.
    Tensor,
}

impl fmt::Display for AttrKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrKind::Int => f.write_str("int"),
            AttrKind::Float => f.write_str("float"),
            AttrKind::Bool => f.write_str("bool"),
            AttrKind::Ints => f.write_str("int or list of ints"),
            AttrKind::Choice(options) => {
                let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
                f.write_str(&quoted.join(" | "))
            }
            AttrKind::Tensor => f.write_str("number or nested list of numbers"),
        }
    }
}

/// An attribute in the op table: its name, kind, whether it may be left out, and what it means.
#[derive(Clone, Copy, Debug)]
pub struct AttrSpec {
    pub name: &'static str,
    pub kind: AttrKind,
    /// `None` when the attribute is required; otherwise the default as it would be written.
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

/// A concrete attribute value.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Ints(Vec<i64>),
    Str(String),
    /// Row-major data with its shape (a literal tensor).
    Tensor {
        shape: Vec<u64>,
        data: Vec<f64>,
    },
}

impl AttrValue {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Int(i) => Some(*i as f64),
            AttrValue::Float(x) => Some(*x),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// A list of ints; a single int is a one-element list.
    pub fn as_ints(&self) -> Option<Vec<i64>> {
        match self {
            AttrValue::Int(i) => Some(vec![*i]),
            AttrValue::Ints(v) => Some(v.clone()),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Whether this value fits the kind; ints are accepted where floats are expected.
    pub fn fits(&self, kind: AttrKind) -> bool {
        match (kind, self) {
            (AttrKind::Int, AttrValue::Int(_)) => true,
            (AttrKind::Float, AttrValue::Int(_) | AttrValue::Float(_)) => true,
            (AttrKind::Bool, AttrValue::Bool(_)) => true,
            (AttrKind::Ints, AttrValue::Int(_) | AttrValue::Ints(_)) => true,
            (AttrKind::Choice(options), AttrValue::Str(s)) => options.contains(&s.as_str()),
            (
                AttrKind::Tensor,
                AttrValue::Int(_) | AttrValue::Float(_) | AttrValue::Tensor { .. },
            ) => true,
            (AttrKind::Tensor, AttrValue::Ints(_)) => true,
            _ => false,
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Int(i) => write!(f, "{i}"),
            AttrValue::Float(x) => write!(f, "{x:?}"),
            AttrValue::Ints(v) => {
                let parts: Vec<String> = v.iter().map(|i| i.to_string()).collect();
                write!(f, "[{}]", parts.join(", "))
            }
            AttrValue::Str(s) => write!(f, "{s:?}"),
            AttrValue::Tensor { shape, data } => {
                write!(f, "tensor{shape:?} ({} values)", data.len())
            }
        }
    }
}

/// Attributes of one node, by name. Defaults from the op table are *not* filled in here; read them
/// through the `get_*` helpers with the default the table documents.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Attrs(pub BTreeMap<String, AttrValue>);

impl Attrs {
    pub fn new() -> Attrs {
        Attrs::default()
    }
    pub fn with(mut self, name: &str, value: AttrValue) -> Attrs {
        self.0.insert(name.to_string(), value);
        self
    }
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.0.get(name)
    }
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name)
            .and_then(AttrValue::as_i64)
            .unwrap_or(default)
    }
    pub fn float(&self, name: &str, default: f64) -> f64 {
        self.get(name)
            .and_then(AttrValue::as_f64)
            .unwrap_or(default)
    }
    pub fn bool(&self, name: &str, default: bool) -> bool {
        self.get(name)
            .and_then(AttrValue::as_bool)
            .unwrap_or(default)
    }
    pub fn str<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name)
            .and_then(AttrValue::as_str)
            .unwrap_or(default)
    }
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).and_then(AttrValue::as_ints)
    }
    /// A per-spatial-dimension list: `n` copies of a single int, the list itself when it has `n`
    /// entries, `default` repeated when absent; `None` when the list has the wrong length.
    pub fn spatial(&self, name: &str, n: usize, default: i64) -> Option<Vec<i64>> {
        match self.ints(name) {
            None => Some(vec![default; n]),
            Some(v) if v.len() == 1 => Some(vec![v[0]; n]),
            Some(v) if v.len() == n => Some(v),
            Some(_) => None,
        }
    }
}
