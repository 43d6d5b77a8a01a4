use std::fmt;

/// One extent of a shape: fixed, or a symbol such as the batch size `B`.
///
/// Symbols are universally quantified over a signature: `B` equals only `B`. A rule that needs two
/// extents equal accepts `B` and `B`, or `3` and `3`, but not `B` and `3` (that would only hold for
/// some batch sizes); broadcasting accepts `1` against anything.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(untagged)]
pub enum Dim {
    Known(u64),
    Sym(String),
}

impl Dim {
    pub fn known(self: &Dim) -> Option<u64> {
        match self {
            Dim::Known(n) => Some(*n),
            Dim::Sym(_) => None,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

impl From<u64> for Dim {
    fn from(n: u64) -> Self {
        Dim::Known(n)
    }
}

/// A tensor shape; the empty shape is a scalar.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    /// In how many ways that differ in meaning this shape's axes can align, in order, with
    /// axes of `to` as a broadcast (the constructors of TorchLean's `CanBroadcastTo`: an axis of
    /// extent 1 stretches, the others must match an equal extent, the other axes of `to` are
    /// new). numpy's right alignment is one of them whenever the broadcast is valid; more than
    /// one means the shapes alone do not say which axes were meant (`[3]` onto `[3, 3]`: rows or
    /// columns). Alignments that differ only in where extent-1 axes go read the same elements
    /// and count once. A symbol may equal any extent at run time, so it matches wherever it
    /// could. 0: not a broadcast. Counting stops at 16.
    pub fn broadcast_alignments(&self, to: &Shape) -> usize {
        fn walk(
            src: &[Dim],
            dst: &[Dim],
            at: usize,
            placed: &mut Vec<usize>,
            out: &mut std::collections::BTreeSet<Vec<usize>>,
        ) {
            let Some((a, rest)) = src.split_first() else {
                out.insert(placed.clone());
                return;
            };
            let one = a.known() == Some(1);
            for (j, d) in dst.iter().enumerate().skip(at) {
                let matches = one
                    || match (a.known(), d.known()) {
                        (Some(x), Some(y)) => x == y,
                        _ => true,
                    };
                if matches && out.len() < 16 {
                    if !one {
                        placed.push(j);
                    }
                    walk(rest, dst, j + 1, placed, out);
                    if !one {
                        placed.pop();
                    }
                }
            }
        }
        let mut out = std::collections::BTreeSet::new();
        walk(&self.0, &to.0, 0, &mut Vec::new(), &mut out);
        out.len()
    }

    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }
    pub fn known(dims: &[u64]) -> Shape {
        Shape(dims.iter().map(|&d| Dim::Known(d)).collect())
    }
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    pub fn dims(&self) -> &[Dim] {
        &self.0
    }
    /// All extents when none is symbolic.
    pub fn as_known(&self) -> Option<Vec<u64>> {
        self.0.iter().map(Dim::known).collect()
    }
    /// Number of elements when known and representable.
    pub fn numel(&self) -> Option<u64> {
        self.0
            .iter()
            .try_fold(1u64, |acc, d| acc.checked_mul(d.known()?))
    }
    /// Replaces symbols by the extents `bind` gives them (others stay symbolic).
    pub fn instantiate(&self, bind: &dyn Fn(&str) -> Option<u64>) -> Shape {
        Shape(
            self.0
                .iter()
                .map(|d| match d {
                    Dim::Sym(s) => bind(s).map(Dim::Known).unwrap_or_else(|| d.clone()),
                    k => k.clone(),
                })
                .collect(),
        )
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}
