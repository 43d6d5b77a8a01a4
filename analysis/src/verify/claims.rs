//! Output claims in linear form: the safe set as rows `coeffs . y + constant CMP 0` over one
//! node's flattened value, and its negation as a VNN-LIB unsafe set for the bounds crate.

use tl_bounds::{Case, InputBox, OutputConstraint, Property};

use super::Failure;
use crate::contracts::{Claim, Cmp, LinearExpr, ValueRef};

/// One conjunct of the safe set.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// (flat index into the node's value, coefficient).
    pub coeffs: Vec<(usize, f64)>,
    pub constant: f64,
    pub cmp: Cmp,
    /// How the row reads to a person: `logits[0, 7] > logits[0, 3]`.
    pub text: String,
}

impl Row {
    pub fn value(&self, y: &[f64]) -> f64 {
        self.coeffs.iter().map(|&(i, c)| c * y[i]).sum::<f64>() + self.constant
    }
    pub fn holds(&self, y: &[f64]) -> bool {
        let v = self.value(y);
        match self.cmp {
            Cmp::Le => v <= 0.0,
            Cmp::Lt => v < 0.0,
            Cmp::Ge => v >= 0.0,
            Cmp::Gt => v > 0.0,
        }
    }
    /// The row's negation as `c . y <= rhs` (strict or not) over `n` outputs.
    pub fn negation(&self, n: usize) -> OutputConstraint {
        let mut a = vec![0.0; n];
        for &(i, c) in &self.coeffs {
            a[i] += c;
        }
        let c = self.constant;
        // safe a.y + c <= 0 | unsafe a.y + c > 0 <=> -a.y < c, and so on.
        let (coeffs, rhs, strict) = match self.cmp {
            Cmp::Le => (a.iter().map(|v| -v).collect(), c, true),
            Cmp::Lt => (a.iter().map(|v| -v).collect(), c, false),
            Cmp::Ge => (a, -c, true),
            Cmp::Gt => (a, -c, false),
        };
        OutputConstraint {
            coeffs,
            rhs,
            strict,
        }
    }
}

/// A claim about one node's value: all rows must hold.
#[derive(Clone, Debug, PartialEq)]
pub struct RowClaim {
    pub node: String,
    pub shape: Vec<usize>,
    pub rows: Vec<Row>,
}

impl RowClaim {
    pub fn holds(&self, y: &[f64]) -> bool {
        self.rows.iter().all(|r| r.holds(y))
    }
    /// The first row that fails at `y`.
    pub fn violated_row(&self, y: &[f64]) -> Option<&Row> {
        self.rows.iter().find(|r| !r.holds(y))
    }
    /// The unsafe set over `input`: the disjunction of the rows' negations.
    pub fn property(&self, input: InputBox) -> Property {
        let n: usize = self.shape.iter().product();
        Property {
            n_inputs: input.lower.len(),
            n_outputs: n,
            cases: vec![Case {
                input,
                disjuncts: self.rows.iter().map(|r| vec![r.negation(n)]).collect(),
            }],
        }
    }
}

/// The node a linear/argmax claim is about, for adding it as an output before running.
pub fn claim_node(claim: &Claim) -> Result<String, Failure> {
    let mut names = Vec::new();
    collect_names(claim, &mut names);
    names.sort();
    names.dedup();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::claim("the claim names no graph value")),
        many => Err(Failure::unsupported(format!(
            "the claim relates several values ({}); verify checks claims about one value",
            many.join(", ")
        ))),
    }
}

fn collect_names(claim: &Claim, out: &mut Vec<String>) {
    match claim {
        Claim::Argmax { output, .. } => out.push(output.clone()),
        Claim::Linear { lhs, rhs, .. } => {
            out.extend(lhs.terms.iter().chain(&rhs.terms).map(|t| t.1.name.clone()))
        }
        Claim::All(parts) => parts.iter().for_each(|p| collect_names(p, out)),
        _ => {}
    }
}

/// The rows of an argmax/linear/all claim over the node's value of `shape`.
pub fn rows(claim: &Claim, node: &str, shape: &[usize]) -> Result<RowClaim, Failure> {
    let mut rows = Vec::new();
    push_rows(claim, node, shape, &mut rows)?;
    Ok(RowClaim {
        node: node.to_string(),
        shape: shape.to_vec(),
        rows,
    })
}

fn push_rows(
    claim: &Claim,
    node: &str,
    shape: &[usize],
    rows: &mut Vec<Row>,
) -> Result<(), Failure> {
    match claim {
        Claim::All(parts) => {
            for p in parts {
                push_rows(p, node, shape, rows)?;
            }
        }
        Claim::Argmax { class, .. } => {
            let classes = *shape.last().unwrap_or(&1);
            if *class < 0 || *class as usize >= classes {
                return Err(Failure::claim(format!(
                    "class {class} is outside 0..{classes} (the last axis of {node})"
                )));
            }
            let k = *class as usize;
            let groups: usize = shape.iter().product::<usize>() / classes.max(1);
            for g in 0..groups {
                for j in (0..classes).filter(|&j| j != k) {
                    let (yk, yj) = (g * classes + k, g * classes + j);
                    rows.push(Row {
                        coeffs: vec![(yk, 1.0), (yj, -1.0)],
                        constant: 0.0,
                        cmp: Cmp::Gt,
                        text: format!(
                            "{node}{} > {node}{}",
                            index_text(shape, yk),
                            index_text(shape, yj)
                        ),
                    });
                }
            }
        }
        Claim::Linear { lhs, cmp, rhs } => {
            let diff = LinearExpr {
                terms: lhs
                    .terms
                    .iter()
                    .cloned()
                    .chain(rhs.terms.iter().map(|(c, v)| (-c, v.clone())))
                    .collect(),
                constant: lhs.constant - rhs.constant,
            };
            let numel: usize = shape.iter().product();
            let elementwise = diff.terms.iter().any(|t| t.1.index.is_none());
            let count = if elementwise { numel } else { 1 };
            for e in 0..count {
                let mut coeffs = Vec::new();
                for (c, v) in &diff.terms {
                    let at = match &v.index {
                        None => e,
                        Some(ix) => flat_index(v, ix, shape)?,
                    };
                    coeffs.push((at, *c));
                }
                let sign = match cmp {
                    Cmp::Le => "<=",
                    Cmp::Lt => "<",
                    Cmp::Ge => ">=",
                    Cmp::Gt => ">",
                };
                let lhs_text: Vec<String> = coeffs
                    .iter()
                    .map(|&(i, c)| {
                        let v = format!("{node}{}", index_text(shape, i));
                        if c == 1.0 {
                            v
                        } else {
                            format!("{c}*{v}")
                        }
                    })
                    .collect();
                rows.push(Row {
                    coeffs,
                    constant: diff.constant,
                    cmp: *cmp,
                    text: format!("{} {sign} {}", lhs_text.join(" + "), -diff.constant),
                });
            }
        }
        other => {
            return Err(Failure::unsupported(format!(
                "a {} claim has no linear form",
                other.kind()
            )))
        }
    }
    Ok(())
}

/// Row-major flat index of `ix` (negative indices count from the end).
pub(super) fn flat_index(v: &ValueRef, ix: &[i64], shape: &[usize]) -> Result<usize, Failure> {
    if ix.len() != shape.len() {
        return Err(Failure::claim(format!(
            "{}{ix:?} has {} indices, the value has shape {shape:?}",
            v.name,
            ix.len()
        )));
    }
    let mut flat = 0usize;
    for (&i, &d) in ix.iter().zip(shape) {
        let k = if i < 0 { i + d as i64 } else { i };
        if k < 0 || k >= d as i64 {
            return Err(Failure::claim(format!(
                "index {ix:?} is out of range for {} of shape {shape:?}",
                v.name
            )));
        }
        flat = flat * d + k as usize;
    }
    Ok(flat)
}

/// `[0, 3]` for a flat index.
pub fn index_text(shape: &[usize], mut flat: usize) -> String {
    let mut ix = vec![0usize; shape.len()];
    for (axis, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            ix[axis] = flat % d;
            flat /= d;
        }
    }
    format!(
        "[{}]",
        ix.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Whether outputs `y` at input `x` fall into a VNN-LIB property's unsafe set.
pub fn property_violated(p: &Property, x: &[f64], y: &[f64]) -> bool {
    p.cases
        .iter()
        .any(|c| c.input.contains(x) && c.disjuncts.iter().any(|d| d.iter().all(|r| r.holds(y))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vref(name: &str, index: Option<Vec<i64>>) -> ValueRef {
        ValueRef {
            name: name.into(),
            index,
        }
    }

    #[test]
    fn argmax_rows_and_unsafe_set() {
        let c = Claim::Argmax {
            output: "y".into(),
            class: 1,
        };
        let rc = rows(&c, "y", &[1, 3]).unwrap();
        assert_eq!(rc.rows.len(), 2);
        assert!(rc.holds(&[0.0, 2.0, 1.0]));
        assert!(!rc.holds(&[0.0, 2.0, 2.0]), "a tie is not argmax == 1");
        let b = InputBox::new(vec![0.0], vec![1.0]).unwrap();
        let p = rc.property(b);
        // Unsafe iff some disjunct holds: y_j - y_k >= 0.
        assert!(property_violated(&p, &[0.5], &[3.0, 2.0, 1.0]));
        assert!(!property_violated(&p, &[0.5], &[0.0, 2.0, 1.0]));
        assert!(rows(
            &Claim::Argmax {
                output: "y".into(),
                class: 3
            },
            "y",
            &[1, 3]
        )
        .is_err());
    }

    #[test]
    fn linear_rows_elementwise_and_indexed() {
        // all(y <= 1.0)
        let le = Claim::Linear {
            lhs: LinearExpr {
                terms: vec![(1.0, vref("y", None))],
                constant: 0.0,
            },
            cmp: Cmp::Le,
            rhs: LinearExpr {
                terms: vec![],
                constant: 1.0,
            },
        };
        let rc = rows(&le, "y", &[2, 2]).unwrap();
        assert_eq!(rc.rows.len(), 4);
        assert!(rc.holds(&[1.0, 0.0, -3.0, 0.5]));
        assert_eq!(
            rc.violated_row(&[1.0, 1.5, 0.0, 0.0]).unwrap().text,
            "y[0, 1] <= 1"
        );
        // y[0, 0] - y[-1, -1] >= 0.5
        let ge = Claim::Linear {
            lhs: LinearExpr {
                terms: vec![
                    (1.0, vref("y", Some(vec![0, 0]))),
                    (-1.0, vref("y", Some(vec![-1, -1]))),
                ],
                constant: 0.0,
            },
            cmp: Cmp::Ge,
            rhs: LinearExpr {
                terms: vec![],
                constant: 0.5,
            },
        };
        let rc = rows(&ge, "y", &[2, 2]).unwrap();
        assert_eq!(rc.rows.len(), 1);
        assert!(rc.holds(&[1.0, 9.0, 9.0, 0.5]));
        assert!(!rc.holds(&[1.0, 9.0, 9.0, 0.6]));
        // Negations are exact complements.
        let n = rc.rows[0].negation(4);
        for y in [[1.0, 0.0, 0.0, 0.5], [1.0, 0.0, 0.0, 0.7]] {
            assert_ne!(n.holds(&y), rc.rows[0].holds(&y));
        }
    }

    #[test]
    fn several_values_are_refused() {
        let c = Claim::Linear {
            lhs: LinearExpr {
                terms: vec![(1.0, vref("a", None))],
                constant: 0.0,
            },
            cmp: Cmp::Le,
            rhs: LinearExpr {
                terms: vec![(1.0, vref("b", None))],
                constant: 0.0,
            },
        };
        assert!(claim_node(&c).is_err());
    }
}
