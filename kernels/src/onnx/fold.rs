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
}
