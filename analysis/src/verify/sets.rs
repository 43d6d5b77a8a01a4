//! Input sets made concrete: the values a contract's `given` clauses denote, broadcast to the
//! input's shape, as a box for the bounds crate or as seeded samples.

use std::path::{Path, PathBuf};

use tl_bounds::attack::{f32_point_in_box, Rng};
use tl_bounds::InputBox;
use tl_ir::{Dim, Shape};
use tl_kernels::Tensor;

use super::model::concrete_shape;
use super::Failure;
use crate::contracts::{InputSet, Values};

/// A `given` set with its files resolved (paths relative to the contract's file).
#[derive(Clone, Debug, PartialEq)]
pub enum SetSpec {
    LinfBall { center: ValueSpec, eps: f64 },
    Box { lower: ValueSpec, upper: ValueSpec },
    Dataset { path: PathBuf },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValueSpec {
    Scalar(f64),
    Literal { shape: Vec<usize>, data: Vec<f64> },
    File(PathBuf),
}

impl SetSpec {
    pub fn resolve(set: &InputSet, base: &dyn Fn(&str) -> PathBuf) -> SetSpec {
        let value = |v: &Values| match v {
            Values::Scalar(s) => ValueSpec::Scalar(*s),
            Values::Literal { shape, data } => ValueSpec::Literal {
                shape: shape.iter().map(|&d| d as usize).collect(),
                data: data.clone(),
            },
            Values::File { path } => ValueSpec::File(base(path)),
        };
        match set {
            InputSet::LinfBall { center, eps } => SetSpec::LinfBall {
                center: value(center),
                eps: *eps,
            },
            InputSet::Box { lower, upper } => SetSpec::Box {
                lower: value(lower),
                upper: value(upper),
            },
            InputSet::Dataset { path } => SetSpec::Dataset { path: base(path) },
        }
    }

    /// Files the set reads (they are part of the cache key).
    pub fn files(&self) -> Vec<PathBuf> {
        let of = |v: &ValueSpec| match v {
            ValueSpec::File(p) => vec![p.clone()],
            _ => vec![],
        };
        match self {
            SetSpec::LinfBall { center, .. } => of(center),
            SetSpec::Box { lower, upper } => [of(lower), of(upper)].concat(),
            SetSpec::Dataset { path } => vec![path.clone()],
        }
    }

    /// The set as a box over an input of `shape` (a linf ball is its box: `center ± eps`,
    /// clipped to nothing else). A dataset has no box.
    pub fn to_box(&self, shape: &[usize]) -> Result<InputBox, Failure> {
        let (lower, upper) = match self {
            SetSpec::LinfBall { center, eps } => {
                if !eps.is_finite() || *eps < 0.0 {
                    return Err(Failure::input(format!(
                        "eps = {eps} is not a finite number >= 0"
                    )));
                }
                let c = center.broadcast(shape)?;
                (
                    c.iter().map(|v| v - eps).collect(),
                    c.iter().map(|v| v + eps).collect(),
                )
            }
            SetSpec::Box { lower, upper } => (lower.broadcast(shape)?, upper.broadcast(shape)?),
            SetSpec::Dataset { path } => {
                return Err(Failure::unsupported(format!(
                    "dataset({}) is a finite set of rows, not a box: bound methods need a box or a ball; use sampling",
                    path.display()
                )))
            }
        };
        InputBox::new(lower, upper).map_err(|e| Failure::input(e.message))
    }

    /// `count` points of the set for an input of (possibly symbolic) `shape` whose symbolic
    /// extents are set to `size`: the one place a set becomes concrete inputs, for every sampled
    /// claim kind (ranges, equivalence, gradients, masks, ignored labels). A box or a ball gives
    /// seeded points of its box (`box_samples`); a dataset gives its rows in file order, cycling.
    pub fn points(
        &self,
        shape: &Shape,
        size: u64,
        count: u64,
        seed: u64,
    ) -> Result<Vec<Vec<f64>>, Failure> {
        let concrete = concrete_shape(shape, size);
        match self {
            SetSpec::Dataset { path } => {
                // A row is one example: the input's fixed extents, every symbolic extent 1.
                let row_shape = concrete_shape(shape, 1);
                let rows = SetSpec::dataset_rows(path, &row_shape)?;
                let batch = Batch::new(shape, size);
                let mut next = 0usize;
                Ok((0..count)
                    .map(|_| {
                        let picked: Vec<&[f64]> = (0..batch.cells)
                            .map(|_| {
                                let r = &rows[next % rows.len()];
                                next += 1;
                                r.as_slice()
                            })
                            .collect();
                        batch.fill(&concrete, &picked)
                    })
                    .collect())
            }
            other => Ok(box_samples(&other.to_box(&concrete)?, count, seed)),
        }
    }

    /// The rows of a dataset: its values split into examples of `row_shape` (row-major, in file
    /// order). TL0802 when the values do not split evenly.
    pub fn dataset_rows(path: &Path, row_shape: &[usize]) -> Result<Vec<Vec<f64>>, Failure> {
        let t = read_npy(path)?;
        let all: Vec<f64> = t.to_f64().iter().copied().collect();
        if let Some(bad) = all.iter().find(|v| !v.is_finite()) {
            return Err(Failure::input(format!(
                "{}: the dataset contains {bad}",
                path.display()
            )));
        }
        let per: usize = row_shape.iter().product();
        if per == 0 || !all.len().is_multiple_of(per) || all.is_empty() {
            return Err(Failure::input(format!(
                "{}: {} values do not split into rows of shape {:?}",
                path.display(),
                all.len(),
                row_shape
                    .iter()
                    .copied()
                    .skip_while(|&d| d == 1 && row_shape.len() > 1)
                    .collect::<Vec<_>>()
            )));
        }
        Ok(all.chunks(per).map(<[f64]>::to_vec).collect())
    }
}

/// Where the rows of a dataset go in one batch: every position along the symbolic axes is one
/// row (for the usual `[N, ...]` input, `size` consecutive rows stacked along the first axis).
struct Batch {
    /// Which axes are symbolic.
    symbolic: Vec<bool>,
    /// How many rows one batch holds: `size` to the number of symbolic axes.
    cells: usize,
    /// The row's extents (symbolic axes 1).
    row: Vec<usize>,
    size: usize,
}

impl Batch {
    fn new(shape: &Shape, size: u64) -> Batch {
        let symbolic: Vec<bool> = shape.0.iter().map(|d| matches!(d, Dim::Sym(_))).collect();
        let n = symbolic.iter().filter(|&&s| s).count();
        Batch {
            cells: (size as usize).pow(n as u32),
            row: concrete_shape(shape, 1),
            symbolic,
            size: size as usize,
        }
    }

    /// The batch of `concrete` shape, row-major, from `cells` rows.
    fn fill(&self, concrete: &[usize], rows: &[&[f64]]) -> Vec<f64> {
        let n: usize = concrete.iter().product();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; concrete.len()];
        for _ in 0..n {
            let (mut cell, mut within) = (0usize, 0usize);
            for (axis, &i) in idx.iter().enumerate() {
                if self.symbolic[axis] {
                    cell = cell * self.size + i;
                } else {
                    within = within * self.row[axis] + i;
                }
            }
            out.push(rows[cell][within]);
            for axis in (0..concrete.len()).rev() {
                idx[axis] += 1;
                if idx[axis] < concrete[axis] {
                    break;
                }
                idx[axis] = 0;
            }
        }
        out
    }
}

impl ValueSpec {
    /// The values broadcast (NumPy rules, right-aligned) to `shape`, row-major.
    pub fn broadcast(&self, shape: &[usize]) -> Result<Vec<f64>, Failure> {
        let (src_shape, data) = match self {
            ValueSpec::Scalar(v) => (vec![], vec![*v]),
            ValueSpec::Literal { shape, data } => (shape.clone(), data.clone()),
            ValueSpec::File(path) => {
                let t = read_npy(path)?;
                (t.shape().to_vec(), t.to_f64().iter().copied().collect())
            }
        };
        if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
            return Err(Failure::input(format!("the set contains {bad}")));
        }
        broadcast(&src_shape, &data, shape)
    }
}

fn read_npy(path: &Path) -> Result<Tensor, Failure> {
    tl_kernels::payload::npy::read(path)
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

/// NumPy broadcasting of `data` (of `from`) to `to`.
pub fn broadcast(from: &[usize], data: &[f64], to: &[usize]) -> Result<Vec<f64>, Failure> {
    let fail = || {
        Failure::input(format!(
            "values of shape {from:?} do not broadcast to the input shape {to:?}"
        ))
    };
    if from.len() > to.len() {
        // Leading extents of 1 may be dropped: [1, 784] values fit a [784] input.
        let extra = from.len() - to.len();
        if from[..extra].iter().all(|&d| d == 1) {
            return broadcast(&from[extra..], data, to);
        }
        return Err(fail());
    }
    let pad = to.len() - from.len();
    let src: Vec<usize> = std::iter::repeat_n(1, pad)
        .chain(from.iter().copied())
        .collect();
    for (s, t) in src.iter().zip(to) {
        if *s != 1 && s != t {
            return Err(fail());
        }
    }
    let n: usize = to.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; to.len()];
    for _ in 0..n {
        let mut flat = 0;
        for (axis, &i) in idx.iter().enumerate() {
            flat = flat * src[axis] + if src[axis] == 1 { 0 } else { i };
        }
        out.push(data[flat]);
        for axis in (0..to.len()).rev() {
            idx[axis] += 1;
            if idx[axis] < to[axis] {
                break;
            }
            idx[axis] = 0;
        }
    }
    Ok(out)
}

/// Seeded points of a box, uniform per coordinate and rounded to f32 points inside it (so both
/// engines see exactly the same input). The first two samples are the corners lower and upper.
pub fn box_samples(b: &InputBox, count: u64, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Rng(seed ^ 0x7153_5EED);
    (0..count)
        .map(|k| {
            let raw = match k {
                0 => b.lower.clone(),
                1 => b.upper.clone(),
                _ => rng.point(b),
            };
            f32_point_in_box(&raw, b).unwrap_or_else(|| b.center())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_like_numpy() {
        assert_eq!(broadcast(&[], &[2.0], &[2, 2]).unwrap(), vec![2.0; 4]);
        assert_eq!(
            broadcast(&[2], &[1.0, 2.0], &[2, 2]).unwrap(),
            vec![1.0, 2.0, 1.0, 2.0]
        );
        assert_eq!(
            broadcast(&[2, 1], &[1.0, 2.0], &[2, 2]).unwrap(),
            vec![1.0, 1.0, 2.0, 2.0]
        );
        assert_eq!(
            broadcast(&[1, 3], &[1.0, 2.0, 3.0], &[3]).unwrap(),
            vec![1.0, 2.0, 3.0]
        );
        assert!(broadcast(&[3], &[1.0, 2.0, 3.0], &[2]).is_err());
    }

    #[test]
    fn ball_is_center_plus_minus_eps_and_rejects_bad_eps() {
        let set = SetSpec::LinfBall {
            center: ValueSpec::Literal {
                shape: vec![2],
                data: vec![0.5, 1.0],
            },
            eps: 0.25,
        };
        let b = set.to_box(&[1, 2]).unwrap();
        assert_eq!(b.lower, vec![0.25, 0.75]);
        assert_eq!(b.upper, vec![0.75, 1.25]);
        let bad = SetSpec::LinfBall {
            center: ValueSpec::Scalar(0.0),
            eps: f64::NAN,
        };
        assert!(bad.to_box(&[1]).is_err());
        let inverted = SetSpec::Box {
            lower: ValueSpec::Scalar(1.0),
            upper: ValueSpec::Scalar(0.0),
        };
        assert!(inverted.to_box(&[2]).is_err());
    }

    #[test]
    fn samples_are_f32_points_inside_the_box() {
        let b = InputBox::new(vec![-0.1, 0.3], vec![0.1, 0.7]).unwrap();
        let s = box_samples(&b, 50, 3);
        assert_eq!(s.len(), 50);
        assert_eq!(s, box_samples(&b, 50, 3), "seeded");
        for p in &s {
            assert!(b.contains(p));
            assert!(p.iter().all(|&v| v as f32 as f64 == v));
        }
    }
}
