//! Shape subgraphs folded at import. Exporters compute reshape targets from the running shapes
//! (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`, with int64 arithmetic between): tl's
//! shapes are static or symbolic, so these computations are evaluated here, element by element,
//! over extents that are known numbers or named symbolic extents. A value that depends on tensor
//! data, or combines symbolic extents arithmetically, stays unknown; a shape input that needs it
//! is refused with TL0570.

use std::fmt;

/// One element of a folded integer tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SymInt {
    Known(i64),
    /// The extent of a symbolic axis (`batch`), exactly.
    Sym(String),
    /// Derived from symbolic extents (`batch * 4`): known at run time only; the text says how.
    Derived(String),
}

impl fmt::Display for SymInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymInt::Known(v) => write!(f, "{v}"),
            SymInt::Sym(s) | SymInt::Derived(s) => f.write_str(s),
        }
    }
}

/// A folded integer tensor: row-major elements and a shape (rank 0 or 1 in practice).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Folded {
    pub shape: Vec<usize>,
    pub data: Vec<SymInt>,
}

impl Folded {
    pub fn known(shape: Vec<usize>, data: impl IntoIterator<Item = i64>) -> Folded {
        Folded {
            shape,
            data: data.into_iter().map(SymInt::Known).collect(),
        }
    }
    pub fn vector(data: Vec<SymInt>) -> Folded {
        Folded {
            shape: vec![data.len()],
            data,
        }
    }
    /// Every element as a number, when all are known.
    pub fn ints(&self) -> Option<Vec<i64>> {
        self.data
            .iter()
            .map(|d| match d {
                SymInt::Known(v) => Some(*v),
                _ => None,
            })
            .collect()
    }
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self.data.iter().map(ToString::to_string).collect();
        format!("[{}]", parts.join(", "))
    }
}

/// Elementwise integer arithmetic with numpy broadcasting of a scalar (or one-element) side.
pub(crate) fn arith(op: &str, a: &Folded, b: &Folded) -> Result<Folded, String> {
    let n = a.data.len().max(b.data.len());
    let pick = |f: &Folded, i: usize| -> Result<SymInt, String> {
        match f.data.len() {
            1 => Ok(f.data[0].clone()),
            len if len == n => Ok(f.data[i].clone()),
            _ => Err(format!(
                "operands {} and {} do not broadcast",
                a.describe(),
                b.describe()
            )),
        }
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (x, y) = (pick(a, i)?, pick(b, i)?);
        out.push(match (&x, &y) {
            (SymInt::Known(x), SymInt::Known(y)) => SymInt::Known(
                match op {
                    "Add" => x.checked_add(*y),
                    "Sub" => x.checked_sub(*y),
                    "Mul" => x.checked_mul(*y),
                    // ONNX integer division truncates toward zero.
                    "Div" => x.checked_div(*y),
                    _ => None,
                }
                .ok_or_else(|| format!("{op} of {x} and {y} overflows or divides by zero"))?,
            ),
            // x * 1, x + 0, x / 1 keep a symbolic extent exact.
            (s, SymInt::Known(1)) if matches!(op, "Mul" | "Div") => s.clone(),
            (SymInt::Known(1), s) if op == "Mul" => s.clone(),
            (s, SymInt::Known(0)) if matches!(op, "Add" | "Sub") => s.clone(),
            _ => SymInt::Derived(format!(
                "({x} {} {y})",
                match op {
                    "Add" => "+",
                    "Sub" => "-",
                    "Mul" => "*",
                    _ => "/",
                }
            )),
        });
    }
    let shape = if a.data.len() >= b.data.len() {
        a.shape.clone()
    } else {
        b.shape.clone()
    };
    Ok(Folded { shape, data: out })
}

/// The target of a Reshape whose shape input folded to `target`, for an input with extents
/// `input` (`None` = symbolic with that name): known entries stay, an entry equal to the input's
/// symbolic extent at the same position becomes 0 (copy), and at most one other unknown entry
/// becomes -1 (inferred).
pub(crate) fn reshape_target(
    target: &Folded,
    input: &[Result<u64, String>],
) -> Result<Vec<i64>, String> {
    let mut out = Vec::with_capacity(target.data.len());
    let mut inferred = false;
    for (i, d) in target.data.iter().enumerate() {
        out.push(match d {
            SymInt::Known(v) => *v,
            SymInt::Sym(s) if input.get(i).is_some_and(|e| e.as_ref().err() == Some(s)) => 0,
            other => {
                if inferred || target.data.contains(&SymInt::Known(-1)) {
                    return Err(format!(
                        "target {} has more than one extent known only at run time ({other} among them)",
                        target.describe()
                    ));
                }
                inferred = true;
                -1
            }
        });
    }
    Ok(out)
}

/// Elements a folded broadcast may produce (folded values are small shape and index tensors).
const MAX_FOLDED: usize = 1 << 20;

/// `x` broadcast with `shape` (ONNX `Expand`: numpy rules, both ways).
pub(crate) fn expand(x: &Folded, shape: &[i64]) -> Result<Folded, String> {
    if shape.iter().any(|&d| d < 0) {
        return Err(format!("Expand shape {shape:?} has a negative extent"));
    }
    let rank = x.shape.len().max(shape.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        std::iter::repeat_n(1, rank - s.len())
            .chain(s.iter().copied())
            .collect()
    };
    let xs = pad(&x.shape);
    let ts = pad(&shape.iter().map(|&d| d as usize).collect::<Vec<_>>());
    let mut out_shape = Vec::with_capacity(rank);
    for (&a, &b) in xs.iter().zip(&ts) {
        out_shape.push(match (a, b) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => return Err(format!("{} does not broadcast to {shape:?}", x.describe())),
        });
    }
    gather_broadcast(x, &xs, out_shape, |_, i| i)
}

/// `x` repeated `repeats[a]` times along each axis `a` (ONNX `Tile`).
pub(crate) fn tile(x: &Folded, repeats: &[i64]) -> Result<Folded, String> {
    if repeats.len() != x.shape.len() || repeats.iter().any(|&r| r < 0) {
        return Err(format!(
            "Tile repeats {repeats:?} do not fit {}",
            x.describe()
        ));
    }
    let out_shape: Vec<usize> = x
        .shape
        .iter()
        .zip(repeats)
        .map(|(&d, &r)| d * r as usize)
        .collect();
    let xs = x.shape.clone();
    gather_broadcast(x, &xs, out_shape, |a, i| i % xs_axis(&x.shape, a))
}

fn xs_axis(shape: &[usize], a: usize) -> usize {
    shape[a].max(1)
}

/// The elements of an `out_shape` tensor read from `x` (of padded shape `xs`): output index `i`
/// along axis `a` reads `src(a, i)`, an extent-1 axis of `x` always index 0.
fn gather_broadcast(
    x: &Folded,
    xs: &[usize],
    out_shape: Vec<usize>,
    src: impl Fn(usize, usize) -> usize,
) -> Result<Folded, String> {
    let n: usize = out_shape.iter().product();
    if n > MAX_FOLDED {
        return Err(format!(
            "a folded tensor of shape {out_shape:?} is too large"
        ));
    }
    let mut data = Vec::with_capacity(n);
    let mut idx = vec![0usize; out_shape.len()];
    for _ in 0..n {
        let mut flat = 0;
        for (a, &i) in idx.iter().enumerate() {
            let j = if xs[a] == 1 { 0 } else { src(a, i) };
            flat = flat * xs[a] + j;
        }
        data.push(x.data[flat].clone());
        for a in (0..idx.len()).rev() {
            idx[a] += 1;
            if idx[a] < out_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    Ok(Folded {
        shape: out_shape,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_keeps_known_and_marks_derived() {
        let a = Folded::vector(vec![SymInt::Sym("B".into())]);
        let four = Folded::known(vec![], [4]);
        let m = arith("Mul", &a, &four).unwrap();
        assert_eq!(m.data, vec![SymInt::Derived("(B * 4)".into())]);
        assert_eq!(arith("Mul", &a, &Folded::known(vec![], [1])).unwrap(), a);
        assert_eq!(
            arith(
                "Div",
                &Folded::known(vec![], [-7]),
                &Folded::known(vec![], [2])
            )
            .unwrap()
            .ints(),
            Some(vec![-3])
        );
        assert!(arith("Div", &four, &Folded::known(vec![], [0])).is_err());
        assert!(arith(
            "Add",
            &Folded::known(vec![2], [1, 2]),
            &Folded::known(vec![3], [1, 2, 3])
        )
        .is_err());
    }

    #[test]
    fn reshape_targets_copy_symbols_and_infer_one() {
        let t = Folded::vector(vec![
            SymInt::Sym("B".into()),
            SymInt::Derived("(L * 4)".into()),
            SymInt::Known(8),
        ]);
        let input = [Err("B".to_string()), Ok(3), Ok(32)];
        assert_eq!(reshape_target(&t, &input).unwrap(), vec![0, -1, 8]);
        let two = Folded::vector(vec![
            SymInt::Derived("a".into()),
            SymInt::Derived("b".into()),
        ]);
        assert!(reshape_target(&two, &input).is_err());
    }

    #[test]
    fn expand_and_tile_follow_numpy() {
        let x = Folded::known(vec![1, 3], [1, 2, 3]);
        let e = expand(&x, &[2, 3]).unwrap();
        assert_eq!(e.shape, vec![2, 3]);
        assert_eq!(e.ints().unwrap(), vec![1, 2, 3, 1, 2, 3]);
        let col = Folded::known(vec![2, 1], [7, 8]);
        let e = expand(&col, &[3]).unwrap();
        assert_eq!(e.shape, vec![2, 3]);
        assert_eq!(e.ints().unwrap(), vec![7, 7, 7, 8, 8, 8]);
        assert!(expand(&x, &[2, 2]).is_err());
        let t = tile(&Folded::known(vec![2, 2], [1, 2, 3, 4]), &[2, 1]).unwrap();
        assert_eq!(t.shape, vec![4, 2]);
        assert_eq!(t.ints().unwrap(), vec![1, 2, 3, 4, 1, 2, 3, 4]);
        let t = tile(&Folded::known(vec![2], [5, 6]), &[3]).unwrap();
        assert_eq!(t.ints().unwrap(), vec![5, 6, 5, 6, 5, 6]);
        assert!(tile(&x, &[2]).is_err());
    }
}

/// The numpy broadcast of the folded tensors' shapes.
fn broadcast_shape(args: &[&Folded]) -> Result<Vec<usize>, String> {
    let rank = args.iter().map(|a| a.shape.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for a in args {
        let off = rank - a.shape.len();
        for (i, &d) in a.shape.iter().enumerate() {
            let o = &mut out[off + i];
            match (*o, d) {
                (x, y) if x == y => {}
                (1, y) => *o = y,
                (_, 1) => {}
                _ => {
                    let parts: Vec<String> =
                        args.iter().map(|a| format!("{:?}", a.shape)).collect();
                    return Err(format!("shapes {} do not broadcast", parts.join(", ")));
                }
            }
        }
    }
    Ok(out)
}

/// `f` applied elementwise to known integer tensors with numpy broadcasting (comparisons, logic
/// and `Where` of mask subgraphs: Hugging Face builds causal masks from `Range`, `Less`, `Equal`,
/// `Where`); `Ok(None)` when an element is not a known number.
pub(crate) fn elementwise(
    args: &[&Folded],
    f: impl Fn(&[i64]) -> Result<i64, String>,
) -> Result<Option<Folded>, String> {
    if args.iter().any(|a| a.ints().is_none()) {
        return Ok(None);
    }
    let shape = broadcast_shape(args)?;
    let target: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let full: Vec<Vec<i64>> = args
        .iter()
        .map(|a| expand(a, &target).map(|e| e.ints().unwrap_or_default()))
        .collect::<Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut row = vec![0i64; args.len()];
    for i in 0..n {
        for (r, a) in row.iter_mut().zip(&full) {
            *r = a[i];
        }
        out.push(f(&row)?);
    }
    Ok(Some(Folded::known(shape, out)))
}

/// The upper (`j - i >= k`) or lower (`j - i <= k`) triangle of a known integer tensor, the rest 0.
pub(crate) fn trilu(x: &Folded, upper: bool, k: i64) -> Result<Option<Folded>, String> {
    let r = x.shape.len();
    if r < 2 {
        return Err(format!("Trilu needs rank >= 2, got {}", x.describe()));
    }
    let (rows, cols) = (x.shape[r - 2], x.shape[r - 1]);
    let mut data = x.data.clone();
    for (idx, v) in data.iter_mut().enumerate() {
        let (i, j) = ((idx / cols.max(1)) % rows.max(1), idx % cols.max(1));
        if !crate::cpu::trilu_keeps(upper, k, i, j) {
            *v = SymInt::Known(0);
        }
    }
    Ok(Some(Folded {
        shape: x.shape.clone(),
        data,
    }))
}

#[cfg(test)]
mod mask_tests {
    use super::*;

    #[test]
    fn a_causal_mask_folds_from_range_less_and_where() {
        // mask_cond < (mask_cond + 1).view(n, 1), as transformers' _make_causal_mask builds it.
        let n = 4;
        let r = Folded::known(vec![n], 0..n as i64);
        let col = Folded::known(vec![n, 1], 1..=n as i64);
        let less = elementwise(&[&r, &col], |v| Ok(i64::from(v[0] < v[1])))
            .unwrap()
            .unwrap();
        assert_eq!(less.shape, vec![n, n]);
        let lower = trilu(
            &Folded::known(vec![n, n], std::iter::repeat_n(1, n * n)),
            false,
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(less.ints(), lower.ints());
        let bad = Folded::known(vec![3], [1, 2, 3]);
        assert!(elementwise(&[&r, &bad], |v| Ok(v[0])).is_err());
        let sym = Folded::vector(vec![SymInt::Sym("batch".into())]);
        assert_eq!(elementwise(&[&sym], |v| Ok(v[0])).unwrap(), None);
    }
}
