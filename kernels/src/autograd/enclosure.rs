//! Sound enclosures of a graph's Jacobian over an input box: forward mode with interval primal
//! values and interval tangents, one tangent per coordinate of the differentiated input.
//!
//! Every node carries an interval `[lo, hi]` of its values over the box (interval bound
//! propagation) and, when it depends on the input, an interval tangent of shape
//! `[coordinates, ..node shape]`: row `j` encloses `d node / d x_j` over the box. Each op's rule
//! bounds its derivative over the primal interval: relu's is `[0, 1]` where the pre-activation
//! interval straddles 0 (1 above, 0 below), sigmoid's and tanh's come from the distance of the
//! interval to 0, linear maps apply their weights (centre and radius, the radius through `|W|`),
//! max pooling takes the hull of the tangents of the taps that can be maximal. At a kink the
//! enclosure contains the whole generalized (Clarke) derivative, so by the mean value theorem for
//! Lipschitz functions, `f(b) - f(a)` lies in `J (b - a)` for an enclosing `J` along every segment
//! in the box: bounds on the enclosure are bounds on slopes, differentiable or not.
//!
//! Rounding: every computed interval is widened outward by Higham's `γ(k+2)` times the magnitude
//! of the terms summed (`k` the op's accumulation length: the input features of a linear map, the
//! taps of a convolution window), plus 4 ulps for the transcendental ops (libm's `exp`/`tanh`
//! are within 1 ulp of the correctly rounded result), so the enclosure holds over the reals, not
//! only in f64. Ops without an enclosure rule (softmax, normalisations, attention, losses,
//! products of two varying values through matmul) are refused naming the node.

use super::adjoint::gamma;
use super::backward::output_id;
use super::error::{AutogradError, AutogradResult};
use super::rules::max_pool2d_hull;
use crate::backend::{Backend, CpuBackend, KernelOp};
use crate::cpu::{BinaryOp, UnaryOp};
use crate::exec::{lower, ExecError, Lowered, Payload};
use crate::tensor::Tensor;
use ndarray::{Array2, ArrayD, Axis, IxDyn, Zip};
use std::collections::BTreeMap;
use tl_ir::{Graph, NodeKind};

/// Outward slack below every bound (subnormal results of a widened product).
const TINY: f64 = 1e-300;
/// Transcendental results are within this many ulps (relative) of the real value.
const TRANSCENDENTAL: f64 = 4.0 * f64::EPSILON;

/// The Jacobian of one output with respect to one input over a box, enclosed elementwise.
#[derive(Debug, Clone, PartialEq)]
pub struct JacobianEnclosure {
    pub output_shape: Vec<usize>,
    pub input_shape: Vec<usize>,
    /// `[output element, input coordinate]`, row-major over both shapes.
    pub lo: Array2<f64>,
    pub hi: Array2<f64>,
    /// The output's values over the box (the primal enclosure).
    pub value_lo: ArrayD<f64>,
    pub value_hi: ArrayD<f64>,
}

impl JacobianEnclosure {
    /// An upper bound of `max_i sum_j |J_ij|` over the input coordinates `free` (the induced
    /// linf operator norm; `free[j]` false drops a coordinate the set holds fixed).
    pub fn linf_norm_bound(&self, free: &[bool]) -> f64 {
        let n = self.lo.ncols();
        self.lo
            .outer_iter()
            .zip(self.hi.outer_iter())
            .map(|(lo, hi)| {
                let s: f64 = (0..n)
                    .filter(|&j| free.get(j).copied().unwrap_or(true))
                    .map(|j| lo[j].abs().max(hi[j].abs()))
                    .sum();
                s * (1.0 + gamma(n + 1))
            })
            .fold(0.0, f64::max)
    }

    /// An upper bound of `max_j sum_i |J_ij|` over the free coordinates (the induced l1 norm).
    pub fn l1_norm_bound(&self, free: &[bool]) -> f64 {
        let m = self.lo.nrows();
        (0..self.lo.ncols())
            .filter(|&j| free.get(j).copied().unwrap_or(true))
            .map(|j| {
                let s: f64 = (0..m)
                    .map(|i| self.lo[[i, j]].abs().max(self.hi[[i, j]].abs()))
                    .sum();
                s * (1.0 + gamma(m + 1))
            })
            .fold(0.0, f64::max)
    }
}

#[derive(Debug, Clone)]
struct Iv {
    lo: ArrayD<f64>,
    hi: ArrayD<f64>,
}

impl Iv {
    fn point(a: ArrayD<f64>) -> Iv {
        Iv {
            lo: a.clone(),
            hi: a,
        }
    }
    fn is_point(&self) -> bool {
        self.lo == self.hi
    }
    fn mag(&self) -> ArrayD<f64> {
        Zip::from(&self.lo)
            .and(&self.hi)
            .map_collect(|&l, &h| l.abs().max(h.abs()))
    }
    /// Widened outward by `rel * mag`, plus `TINY` wherever `mag > 0` (a bound whose terms are
    /// all exactly zero is exact). Callers fold a count of nonzero terms into `mag` where a
    /// product could underflow to zero.
    fn widen(self, mag: &ArrayD<f64>, rel: f64) -> Iv {
        self.widen_sides(mag, mag, rel)
    }
    fn widen_sides(mut self, mlo: &ArrayD<f64>, mhi: &ArrayD<f64>, rel: f64) -> Iv {
        let slack = |m: f64| rel * m + if m > 0.0 { TINY } else { 0.0 };
        Zip::from(&mut self.lo)
            .and(mlo)
            .for_each(|l, &m| *l -= slack(m));
        Zip::from(&mut self.hi)
            .and(mhi)
            .for_each(|h, &m| *h += slack(m));
        self
    }
    fn widen_self(self, rel: f64) -> Iv {
        let m = self.mag();
        self.widen(&m, rel)
    }
}

/// A lower (`down`) or upper bound of the real product `a * b` from its rounded value: the FMA
/// gives the product's exact rounding error, so exact products stay exact.
fn product_bound(a: f64, b: f64, down: bool) -> f64 {
    let p = a * b;
    if a == 0.0 || b == 0.0 || !p.is_finite() {
        return p;
    }
    if p.abs() < 1e-290 {
        return if down { p - TINY } else { p + TINY };
    }
    let e = a.mul_add(b, -p);
    let step = p.abs() * f64::EPSILON;
    match (down, e < 0.0, e > 0.0) {
        (true, true, _) => p - step,
        (false, _, true) => p + step,
        _ => p,
    }
}

/// A bound of the real sum `a + b` from its rounded value (TwoSum gives the exact error).
fn sum_bound(a: f64, b: f64, down: bool) -> f64 {
    let s = a + b;
    if !s.is_finite() {
        return s;
    }
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    let step = (s.abs() * f64::EPSILON).max(err.abs() * 2.0);
    match (down, err < 0.0, err > 0.0) {
        (true, true, _) => s - step,
        (false, _, true) => s + step,
        _ => s,
    }
}

/// A node's enclosure: an integer value (indices, labels) or a float interval with an optional
/// interval tangent (`None`: it does not depend on the input).
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per node, short-lived
enum Val {
    Int(Tensor),
    Float { p: Iv, t: Option<Iv> },
}

/// Interval product of co-broadcast operands, each endpoint product bounded outward exactly.
fn imul(a: &Iv, b: &Iv) -> Iv {
    let shape = {
        let probe = &a.lo * &b.lo;
        probe.raw_dim()
    };
    let bc = |x: &ArrayD<f64>| x.broadcast(shape.clone()).expect("co-broadcast").to_owned();
    let (al, ah, bl, bh) = (bc(&a.lo), bc(&a.hi), bc(&b.lo), bc(&b.hi));
    let bound = |down: bool| {
        Zip::from(&al)
            .and(&ah)
            .and(&bl)
            .and(&bh)
            .map_collect(|&al, &ah, &bl, &bh| {
                let ps = [
                    product_bound(al, bl, down),
                    product_bound(al, bh, down),
                    product_bound(ah, bl, down),
                    product_bound(ah, bh, down),
                ];
                if down {
                    ps.into_iter().fold(f64::INFINITY, f64::min)
                } else {
                    ps.into_iter().fold(f64::NEG_INFINITY, f64::max)
                }
            })
    };
    Iv {
        lo: bound(true),
        hi: bound(false),
    }
}

fn iadd(a: &Iv, b: &Iv, sign: f64) -> Iv {
    let (blo, bhi) = if sign > 0.0 {
        (b.lo.clone(), b.hi.clone())
    } else {
        (b.hi.mapv(|v| -v), b.lo.mapv(|v| -v))
    };
    let shape = (&a.lo + &blo).raw_dim();
    let bc = |x: &ArrayD<f64>| x.broadcast(shape.clone()).expect("co-broadcast").to_owned();
    let (al, ah, bl, bh) = (bc(&a.lo), bc(&a.hi), bc(&blo), bc(&bhi));
    Iv {
        lo: Zip::from(&al)
            .and(&bl)
            .map_collect(|&x, &y| sum_bound(x, y, true)),
        hi: Zip::from(&ah)
            .and(&bh)
            .map_collect(|&x, &y| sum_bound(x, y, false)),
    }
}

/// `t` (`[dirs, ..s]`) with extent-1 axes after the direction axis up to `rank + 1` axes, so it
/// broadcasts against a value of rank `rank`.
fn lift(t: &ArrayD<f64>, rank: usize) -> ArrayD<f64> {
    let mut t = t.clone();
    while t.ndim() < rank + 1 {
        t.insert_axis_inplace(Axis(1));
    }
    t
}

fn lift_iv(t: &Iv, rank: usize) -> Iv {
    Iv {
        lo: lift(&t.lo, rank),
        hi: lift(&t.hi, rank),
    }
}

struct Node<'a> {
    name: &'a str,
    op: &'static str,
}

impl Node<'_> {
    fn unsupported(&self, detail: impl Into<String>) -> AutogradError {
        AutogradError::NoRule {
            node: self.name.into(),
            op: self.op,
            detail: format!(
                "the Jacobian enclosure has no rule for this: {}",
                detail.into()
            ),
        }
    }
    fn kernel(&self, op: &KernelOp, args: &[Tensor]) -> AutogradResult<ArrayD<f64>> {
        let refs: Vec<&Tensor> = args.iter().collect();
        let mut outs = CpuBackend.run(op, &refs).map_err(|source| {
            AutogradError::Exec(ExecError::Kernel {
                node: self.name.into(),
                source,
            })
        })?;
        if outs.is_empty() {
            return Err(self.unsupported("the kernel returned nothing"));
        }
        Ok(outs.swap_remove(0).to_f64())
    }
}

/// Encloses `d output / d wrt` over the box `boxes` (every float input's lower and upper values;
/// integer inputs are refused unless their box is a point).
pub fn jacobian_enclosure(
    graph: &Graph,
    payload: &dyn Payload,
    boxes: &BTreeMap<String, (ArrayD<f64>, ArrayD<f64>)>,
    wrt: &str,
    output: &str,
) -> AutogradResult<JacobianEnclosure> {
    jacobian_enclosure_with(graph, payload, boxes, wrt, output, &BTreeMap::new())
}

/// Sound value bounds of some nodes over the same box, by node name (row-major lower and upper),
/// from a tighter method (CROWN): each node's interval is intersected with its hint, which
/// keeps more relus stable and so the derivative intervals narrower. A hint of the wrong length
/// is ignored.
pub type ValueHints = BTreeMap<String, (Vec<f64>, Vec<f64>)>;

/// [`jacobian_enclosure`] with the primal intervals intersected with `hints`.
pub fn jacobian_enclosure_with(
    graph: &Graph,
    payload: &dyn Payload,
    boxes: &BTreeMap<String, (ArrayD<f64>, ArrayD<f64>)>,
    wrt: &str,
    output: &str,
    hints: &ValueHints,
) -> AutogradResult<JacobianEnclosure> {
    graph
        .validate()
        .map_err(|e| ExecError::InvalidGraph { detail: e.message })?;
    let out = output_id(graph, output)?;
    let mut vals: Vec<Val> = Vec::with_capacity(graph.nodes.len());
    let mut input_shape = None;
    for node in &graph.nodes {
        let at = Node {
            name: &node.name,
            op: match &node.kind {
                NodeKind::Op { op, .. } => op.name(),
                NodeKind::Input => "input",
                NodeKind::Param { .. } => "param",
            },
        };
        let v = match &node.kind {
            NodeKind::Input => {
                let (lo, hi) =
                    boxes
                        .get(&node.name)
                        .ok_or_else(|| AutogradError::NotDifferentiable {
                            output: node.name.clone(),
                            detail: "the input has no box".into(),
                        })?;
                if node.dtype.is_integer() {
                    if lo != hi {
                        return Err(at.unsupported("an integer input that varies over the set"));
                    }
                    Val::Int(Tensor::I64(lo.mapv(|v| v.round() as i64)))
                } else {
                    let p = Iv {
                        lo: lo.clone(),
                        hi: hi.clone(),
                    };
                    let t = (node.name == wrt).then(|| {
                        let n = lo.len();
                        let mut shape = vec![n];
                        shape.extend_from_slice(lo.shape());
                        let eye = Array2::<f64>::eye(n)
                            .into_shape_with_order(IxDyn(&shape))
                            .expect("n * n elements");
                        input_shape = Some(lo.shape().to_vec());
                        Iv::point(eye)
                    });
                    Val::Float { p, t }
                }
            }
            NodeKind::Param { key } => {
                let t = payload.load(key).map_err(ExecError::from)?;
                match t {
                    Tensor::I64(_) => Val::Int(t),
                    t => Val::Float {
                        p: Iv::point(t.to_f64()),
                        t: None,
                    },
                }
            }
            NodeKind::Op { op, attrs } => {
                let lowered = lower(*op, attrs, node.parents.len()).map_err(|detail| {
                    ExecError::Lowering {
                        node: node.name.clone(),
                        op: op.name(),
                        detail,
                    }
                })?;
                match lowered {
                    Lowered::Forward => node
                        .parents
                        .first()
                        .map(|&p| vals[p].clone())
                        .ok_or_else(|| at.unsupported("no operand"))?,
                    Lowered::Constant { .. } => match lowered.constant_tensor(crate::DType::F64) {
                        Some(Tensor::I64(a)) => Val::Int(Tensor::I64(a)),
                        Some(t) => Val::Float {
                            p: Iv::point(t.to_f64()),
                            t: None,
                        },
                        None => return Err(at.unsupported("a constant that does not fit")),
                    },
                    Lowered::Kernel {
                        op: kop,
                        operands,
                        keep_mask,
                        output: which,
                    } => {
                        let constant = |i: &usize| {
                            node.parents.get(*i).is_some_and(|&p| match &vals[p] {
                                Val::Int(_) => true,
                                Val::Float { p, t } => t.is_none() && p.is_point(),
                            })
                        };
                        if op.is_index_map(attrs) && operands.iter().all(constant) {
                            // Data movement of constants is exact: run it on the points.
                            let tensors: Vec<Tensor> = operands
                                .iter()
                                .map(|&i| match &vals[node.parents[i]] {
                                    Val::Int(t) => t.clone(),
                                    Val::Float { p, .. } => Tensor::F64(p.lo.clone()),
                                })
                                .collect();
                            let refs: Vec<&Tensor> = tensors.iter().collect();
                            let out = CpuBackend
                                .run(&kop, &refs)
                                .map_err(|source| {
                                    AutogradError::Exec(ExecError::Kernel {
                                        node: node.name.clone(),
                                        source,
                                    })
                                })?
                                .swap_remove(which);
                            match out {
                                Tensor::I64(_) => Val::Int(out),
                                t => Val::Float {
                                    p: Iv::point(t.to_f64()),
                                    t: None,
                                },
                            }
                        } else if let KernelOp::Attention {
                            causal,
                            scale,
                            return_weights,
                            ..
                        } = &kop
                        {
                            // attention_weights returns output 1 (the weights);
                            // scaled_dot_product_attention output 0, the weights times v.
                            if which != usize::from(*return_weights) {
                                return Err(at.unsupported("attention"));
                            }
                            let arg = |i: usize| {
                                operands
                                    .get(i)
                                    .and_then(|&o| node.parents.get(o))
                                    .map(|&p| &vals[p])
                            };
                            let (Some(q), Some(k)) = (arg(0), arg(1)) else {
                                return Err(at.unsupported("an operand is missing"));
                            };
                            let mask = keep_mask.and_then(arg);
                            let weights =
                                attention_weights_enclosure(&at, q, k, mask, *causal, *scale)?;
                            match (return_weights, &weights, arg(2)) {
                                (true, _, _) => weights,
                                (
                                    false,
                                    Val::Float { p: pw, t: tw },
                                    Some(Val::Float { p: pv, t: tv }),
                                ) => {
                                    let (primal, t) = bilinear_matmul(
                                        &at,
                                        (pw, tw.as_ref()),
                                        (pv, tv.as_ref()),
                                        (1.0, 1.0),
                                    )?;
                                    Val::Float { p: primal, t }
                                }
                                _ => return Err(at.unsupported("integer attention values")),
                            }
                        } else {
                            if which != 0 || keep_mask.is_some() {
                                return Err(at.unsupported("attention"));
                            }
                            let args: Vec<&Val> = operands
                                .iter()
                                .map(|&i| node.parents.get(i).map(|&p| &vals[p]))
                                .collect::<Option<_>>()
                                .ok_or_else(|| at.unsupported("an operand is missing"))?;
                            op_enclosure(&at, &kop, &args)?
                        }
                    }
                }
            }
        };
        let v = match (v, hints.get(&node.name)) {
            (Val::Float { mut p, t }, Some((lo, hi))) if lo.len() == p.lo.len() => {
                for (b, &h) in p.lo.iter_mut().zip(lo) {
                    *b = b.max(h);
                }
                for (b, &h) in p.hi.iter_mut().zip(hi) {
                    *b = b.min(h);
                }
                Val::Float { p, t }
            }
            (v, _) => v,
        };
        vals.push(v);
    }
    let input_shape = input_shape.ok_or_else(|| AutogradError::NotDifferentiable {
        output: wrt.into(),
        detail: "not a float input of the graph".into(),
    })?;
    let n: usize = input_shape.iter().product();
    let Val::Float { p, t } = &vals[out] else {
        return Err(AutogradError::NotDifferentiable {
            output: output.into(),
            detail: "its value is an integer".into(),
        });
    };
    let output_shape = p.lo.shape().to_vec();
    let m = p.lo.len();
    let (lo, hi) = match t {
        Some(t) => {
            let as2 = |a: &ArrayD<f64>| {
                a.to_shape((n, m)).map(|v| v.t().to_owned()).map_err(|e| {
                    AutogradError::NotDifferentiable {
                        output: output.into(),
                        detail: e.to_string(),
                    }
                })
            };
            (as2(&t.lo)?, as2(&t.hi)?)
        }
        None => (Array2::zeros((m, n)), Array2::zeros((m, n))),
    };
    Ok(JacobianEnclosure {
        output_shape,
        input_shape,
        lo,
        hi,
        value_lo: p.lo.clone(),
        value_hi: p.hi.clone(),
    })
}

/// The derivative of a unary op over `[lo, hi]`, enclosed; `None` when there is no rule.
fn unary_derivative(u: &UnaryOp, lo: f64, hi: f64) -> Option<(f64, f64)> {
    // Even functions decreasing in |x|: their extremes over [lo, hi] are at the points nearest
    // to and farthest from 0.
    let even = |f: &dyn Fn(f64) -> f64| {
        let near = if lo <= 0.0 && hi >= 0.0 {
            0.0
        } else {
            lo.abs().min(hi.abs())
        };
        let far = lo.abs().max(hi.abs());
        (f(far), f(near))
    };
    let step = |a: f64, b: f64| {
        if hi < 0.0 {
            (a, a)
        } else if lo > 0.0 {
            (b, b)
        } else {
            (a.min(b), a.max(b))
        }
    };
    Some(match *u {
        UnaryOp::Relu => step(0.0, 1.0),
        UnaryOp::LeakyRelu { alpha } => step(alpha, 1.0),
        UnaryOp::Abs => step(-1.0, 1.0),
        UnaryOp::Sigmoid => even(&|x: f64| {
            let s = 1.0 / (1.0 + x.exp());
            s * (1.0 - s)
        }),
        UnaryOp::Tanh => even(&|x: f64| 1.0 - x.tanh() * x.tanh()),
        UnaryOp::Exp => (lo.exp(), hi.exp()),
        UnaryOp::Neg => (-1.0, -1.0),
        UnaryOp::Scale { factor } => (factor, factor),
        UnaryOp::Offset { .. } | UnaryOp::Identity => (1.0, 1.0),
        UnaryOp::Clamp { min, max } => {
            let inside = |x: f64| min.is_none_or(|a| x >= a) && max.is_none_or(|b| x <= b);
            let below = max.is_some_and(|b| lo > b) || min.is_some_and(|a| hi < a);
            if below {
                (0.0, 0.0)
            } else if inside(lo) && inside(hi) {
                (1.0, 1.0)
            } else {
                (0.0, 1.0)
            }
        }
        _ => return None,
    })
}

/// The primal enclosure of a unary op: monotone ops map the endpoints (through the forward
/// kernel itself), the rest by their shape.
fn unary_primal(at: &Node, u: &UnaryOp, p: &Iv) -> AutogradResult<Iv> {
    let kop = KernelOp::Unary(*u);
    let ends = |lo: &ArrayD<f64>, hi: &ArrayD<f64>| -> AutogradResult<Iv> {
        Ok(Iv {
            lo: at.kernel(&kop, &[Tensor::F64(lo.clone())])?,
            hi: at.kernel(&kop, &[Tensor::F64(hi.clone())])?,
        })
    };
    Ok(match *u {
        UnaryOp::Relu
        | UnaryOp::Sigmoid
        | UnaryOp::Tanh
        | UnaryOp::Exp
        | UnaryOp::Offset { .. }
        | UnaryOp::Identity
        | UnaryOp::Clamp { .. } => ends(&p.lo, &p.hi)?.widen_self(TRANSCENDENTAL),
        UnaryOp::LeakyRelu { alpha } if alpha >= 0.0 => {
            ends(&p.lo, &p.hi)?.widen_self(f64::EPSILON)
        }
        UnaryOp::Neg => Iv {
            lo: p.hi.mapv(|v| -v),
            hi: p.lo.mapv(|v| -v),
        },
        UnaryOp::Scale { factor } => {
            let (a, b) = (p.lo.mapv(|v| v * factor), p.hi.mapv(|v| v * factor));
            if factor >= 0.0 {
                Iv { lo: a, hi: b }
            } else {
                Iv { lo: b, hi: a }
            }
            .widen_self(f64::EPSILON)
        }
        UnaryOp::Abs => Iv {
            lo: Zip::from(&p.lo).and(&p.hi).map_collect(|&l, &h| {
                if l > 0.0 {
                    l
                } else if h < 0.0 {
                    -h
                } else {
                    0.0
                }
            }),
            hi: p.mag(),
        },
        _ => return Err(at.unsupported(format!("{} has no interval rule", at.op))),
    })
}

/// `op(x, w[, b])` linear in x with point weights: the lower bound is `W+ lo + W- hi (+ b)`, the
/// upper `W+ hi + W- lo (+ b)`; each is widened by `γ(k+3)` times the sum of its terms'
/// magnitudes (plus a count of nonzero terms, for products that could underflow).
fn through_weights(
    at: &Node,
    op: &KernelOp,
    op_without_bias: &KernelOp,
    x: &Iv,
    rest: &[ArrayD<f64>],
    accumulation: usize,
    with_bias: bool,
) -> AutogradResult<Iv> {
    let w = &rest[0];
    let wpos = w.mapv(|v| v.max(0.0));
    let wneg = w.mapv(|v| v.min(0.0));
    let run = |x: ArrayD<f64>, w: &ArrayD<f64>| {
        at.kernel(op_without_bias, &[Tensor::F64(x), Tensor::F64(w.clone())])
    };
    let abs = |a: &ArrayD<f64>| a.mapv(f64::abs);
    let mut lo = run(x.lo.clone(), &wpos)? + run(x.hi.clone(), &wneg)?;
    let mut hi = run(x.hi.clone(), &wpos)? + run(x.lo.clone(), &wneg)?;
    let mut mlo = run(abs(&x.lo), &wpos)? + run(abs(&x.hi), &abs(&wneg))?;
    let mut mhi = run(abs(&x.hi), &wpos)? + run(abs(&x.lo), &abs(&wneg))?;
    // How many terms of each bound are nonzero (a nonzero product may round to 0).
    let indicator = |a: &ArrayD<f64>| a.mapv(|v| f64::from(v != 0.0));
    let (ipos, ineg) = (indicator(&wpos), indicator(&wneg));
    let mut nzlo = run(indicator(&x.lo), &ipos)? + run(indicator(&x.hi), &ineg)?;
    let mut nzhi = run(indicator(&x.hi), &ipos)? + run(indicator(&x.lo), &ineg)?;
    if with_bias {
        // b laid out as the op adds it (the kernel on zero input and weights).
        let bias = |b: ArrayD<f64>| {
            at.kernel(
                op,
                &[
                    Tensor::F64(ArrayD::zeros(x.lo.raw_dim())),
                    Tensor::F64(ArrayD::zeros(w.raw_dim())),
                    Tensor::F64(b),
                ],
            )
        };
        let b = bias(rest[1].clone())?;
        lo += &b;
        hi += &b;
        let babs = b.mapv(f64::abs);
        mlo += &babs;
        mhi += &babs;
        let bnz = b.mapv(|v| f64::from(v != 0.0));
        nzlo += &bnz;
        nzhi += &bnz;
    }
    let tiny = |c: ArrayD<f64>| c.mapv(|c| c * f64::MIN_POSITIVE);
    Ok(Iv { lo, hi }.widen_sides(
        &(mlo + &tiny(nzlo)),
        &(mhi + &tiny(nzhi)),
        gamma(accumulation + 3),
    ))
}

fn tangent_through_weights(
    at: &Node,
    op_without_bias: &KernelOp,
    t: &Iv,
    w: &ArrayD<f64>,
    accumulation: usize,
) -> AutogradResult<Iv> {
    let mut lo_parts = Vec::new();
    let mut hi_parts = Vec::new();
    for (l, h) in t.lo.outer_iter().zip(t.hi.outer_iter()) {
        let iv = through_weights(
            at,
            op_without_bias,
            op_without_bias,
            &Iv {
                lo: l.to_owned(),
                hi: h.to_owned(),
            },
            std::slice::from_ref(w),
            accumulation,
            false,
        )?;
        lo_parts.push(iv.lo);
        hi_parts.push(iv.hi);
    }
    let stack = |parts: &[ArrayD<f64>]| {
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::stack(Axis(0), &views).map_err(|e| {
            AutogradError::Exec(ExecError::InvalidGraph {
                detail: e.to_string(),
            })
        })
    };
    Ok(Iv {
        lo: stack(&lo_parts)?,
        hi: stack(&hi_parts)?,
    })
}

fn op_enclosure(at: &Node, op: &KernelOp, args: &[&Val]) -> AutogradResult<Val> {
    let float = |i: usize| -> AutogradResult<(&Iv, Option<&Iv>)> {
        match args.get(i) {
            Some(Val::Float { p, t }) => Ok((p, t.as_ref())),
            Some(Val::Int(_)) => Err(at.unsupported(format!("operand {i} is an integer"))),
            None => Err(at.unsupported(format!("operand {i} is missing"))),
        }
    };
    let point = |i: usize, what: &str| -> AutogradResult<ArrayD<f64>> {
        let (p, t) = float(i)?;
        if t.is_some() || !p.is_point() {
            return Err(at.unsupported(format!(
                "its {what} varies over the set (only constant weights are supported)"
            )));
        }
        Ok(p.lo.clone())
    };
    match op {
        KernelOp::Unary(u) => {
            let (p, t) = float(0)?;
            let primal = unary_primal(at, u, p)?;
            let t = match t {
                None => None,
                Some(t) => {
                    let (dlo, dhi): (Vec<f64>, Vec<f64>) =
                        p.lo.iter()
                            .zip(p.hi.iter())
                            .map(|(&l, &h)| unary_derivative(u, l, h))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| {
                                at.unsupported(format!("{} has no derivative bound", at.op))
                            })?
                            .into_iter()
                            .unzip();
                    let shape = p.lo.raw_dim();
                    let mut d = Iv {
                        lo: ArrayD::from_shape_vec(shape.clone(), dlo).expect("same length"),
                        hi: ArrayD::from_shape_vec(shape, dhi).expect("same length"),
                    };
                    // Step derivatives are exact constants; the smooth ones are computed with
                    // libm and are positive, so their lower bound stays at or above 0.
                    if matches!(u, UnaryOp::Sigmoid | UnaryOp::Tanh | UnaryOp::Exp) {
                        d = d.widen_self(TRANSCENDENTAL);
                        d.lo.mapv_inplace(|v| v.max(0.0));
                    }
                    Some(imul(t, &d))
                }
            };
            Ok(Val::Float { p: primal, t })
        }
        KernelOp::Binary(b) => {
            let ((pa, ta), (pb, tb)) = (float(0)?, float(1)?);
            let primal = match b {
                BinaryOp::Add => iadd(pa, pb, 1.0),
                BinaryOp::Sub => iadd(pa, pb, -1.0),
                BinaryOp::Mul => imul(pa, pb),
                BinaryOp::Div if tb.is_none() && pb.is_point() => {
                    if pb.lo.iter().any(|&v| v == 0.0 || !v.is_finite()) {
                        return Err(at.unsupported("division by a value that can be 0"));
                    }
                    imul(
                        pa,
                        &Iv::point(pb.lo.mapv(|v| 1.0 / v)).widen_self(f64::EPSILON),
                    )
                }
                _ => return Err(at.unsupported(format!("{} of two varying values", b.name()))),
            };
            let rank = primal.lo.ndim();
            let t = match (
                ta.map(|t| lift_iv(t, pa.lo.ndim())),
                tb.map(|t| lift_iv(t, pb.lo.ndim())),
            ) {
                (None, None) => None,
                (ta, tb) => Some(match b {
                    BinaryOp::Add | BinaryOp::Sub => {
                        let sign = if *b == BinaryOp::Add { 1.0 } else { -1.0 };
                        let zero = || Iv::point(ArrayD::zeros(IxDyn(&[1])));
                        let ta = ta.unwrap_or_else(zero);
                        let tb = tb.unwrap_or_else(zero);
                        lift_iv(&iadd(&ta, &tb, sign), rank)
                    }
                    BinaryOp::Mul => {
                        let l = ta.map(|ta| imul(&ta, pb));
                        let r = tb.map(|tb| imul(pa, &tb));
                        match (l, r) {
                            (Some(l), Some(r)) => iadd(&l, &r, 1.0),
                            (Some(x), None) | (None, Some(x)) => x,
                            (None, None) => unreachable!("one tangent exists"),
                        }
                    }
                    _ => {
                        let inv = Iv::point(pb.lo.mapv(|v| 1.0 / v)).widen_self(f64::EPSILON);
                        imul(&ta.expect("only the numerator varies"), &inv)
                    }
                }),
            };
            Ok(Val::Float { p: primal, t })
        }
        KernelOp::Linear { bias } => {
            let (p, t) = float(0)?;
            let mut rest = vec![point(1, "weight")?];
            if *bias {
                rest.push(point(2, "bias")?);
            }
            let ins = rest[0].shape().get(1).copied().unwrap_or(0);
            let nobias = KernelOp::Linear { bias: false };
            let primal = through_weights(at, op, &nobias, p, &rest, ins, *bias)?;
            let t = t
                .map(|t| tangent_through_weights(at, &nobias, t, &rest[0], ins))
                .transpose()?;
            Ok(Val::Float { p: primal, t })
        }
        KernelOp::MatMul if !matches!(args.get(1), Some(Val::Float { p, t: None }) if p.is_point()) =>
        {
            let (pa, ta) = float(0)?;
            let (pb, tb) = float(1)?;
            let (primal, t) = bilinear_matmul(at, (pa, ta), (pb, tb), (1.0, 1.0))?;
            Ok(Val::Float { p: primal, t })
        }
        KernelOp::MatMul => {
            let (p, t) = float(0)?;
            let w = point(1, "right operand")?;
            let k = w.shape().first().copied().unwrap_or(0);
            let primal = through_weights(at, op, op, p, std::slice::from_ref(&w), k, false)?;
            let t = t
                .map(|t| tangent_through_weights(at, op, t, &w, k))
                .transpose()?;
            Ok(Val::Float { p: primal, t })
        }
        KernelOp::Conv2d { bias, .. } | KernelOp::Conv1d { bias, .. } => {
            conv_enclosure(at, op, *bias, float, point)
        }
        KernelOp::MaxPool2d(pool) => {
            let (p, t) = float(0)?;
            let kop = KernelOp::MaxPool2d(*pool);
            let primal = Iv {
                lo: at.kernel(&kop, &[Tensor::F64(p.lo.clone())])?,
                hi: at.kernel(&kop, &[Tensor::F64(p.hi.clone())])?,
            };
            let t = t
                .map(|t| {
                    max_pool2d_hull(&p.hi, &primal.lo, pool, &t.lo, &t.hi)
                        .map(|(lo, hi)| Iv { lo, hi })
                        .map_err(|e| match e {
                            super::rules::RuleError::Kernel(source) => {
                                AutogradError::Exec(ExecError::Kernel {
                                    node: at.name.into(),
                                    source,
                                })
                            }
                            super::rules::RuleError::Missing(d) => at.unsupported(d),
                        })
                })
                .transpose()?;
            Ok(Val::Float { p: primal, t })
        }
        // Linear with non-negative coefficients: the endpoints map to the endpoints.
        KernelOp::Reduce {
            op: crate::cpu::ReduceOp::Sum | crate::cpu::ReduceOp::Mean,
            ..
        }
        | KernelOp::GlobalAvgPool
        | KernelOp::AvgPool2d(_)
        | KernelOp::Transpose { .. }
        | KernelOp::Permute { .. }
        | KernelOp::Reshape { .. }
        | KernelOp::Flatten { .. }
        | KernelOp::Squeeze { .. }
        | KernelOp::Unsqueeze { .. }
        | KernelOp::Concat { .. }
        | KernelOp::Slice { .. }
        | KernelOp::Gather { .. } => monotone_linear(at, op, args),
        KernelOp::Softmax { axis } => {
            let (p, t) = float(0)?;
            softmax_enclosure(at, p, t, *axis)
        }
        KernelOp::CrossEntropy {
            ignore_index,
            reduction,
        } => {
            let (p, t) = float(0)?;
            let Some(Val::Int(Tensor::I64(labels))) = args.get(1) else {
                return Err(at.unsupported("labels that are not fixed integers"));
            };
            cross_entropy_enclosure(at, p, t, labels, *ignore_index, *reduction)
        }
        _ => Err(at.unsupported(format!("{} has no enclosure rule", at.op))),
    }
}

/// Softmax probabilities of one row over the box `[lo, hi]`, enclosed: `p_c` is smallest when
/// `z_c` is at its lowest and every other logit at its highest, and the other way round.
fn softmax_row_bounds(lo: &[f64], hi: &[f64]) -> Vec<(f64, f64)> {
    if lo.len() == 1 {
        // One class: exactly 1, whatever the logit.
        return vec![(1.0, 1.0)];
    }
    (0..lo.len())
        .map(|c| {
            let other = |z: &[f64], zc: f64| -> f64 {
                (0..z.len())
                    .filter(|&k| k != c)
                    .map(|k| (z[k] - zc).exp())
                    .sum()
            };
            let pl = 1.0 / (1.0 + other(hi, lo[c]));
            let ph = 1.0 / (1.0 + other(lo, hi[c]));
            // exp and the sums round: widen outward, inside [0, 1].
            let w = |v: f64| v * (64.0 * f64::EPSILON) + TINY;
            ((pl - w(pl)).max(0.0), (ph + w(ph)).min(1.0))
        })
        .collect()
}

/// `a` with `axis` moved last and the rest flattened: `[rows, axis length]` (standard layout),
/// and the permutation used.
fn lanes_last(a: &ArrayD<f64>, axis: usize) -> (Array2<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..a.ndim()).filter(|&k| k != axis).collect();
    order.push(axis);
    let moved = a.view().permuted_axes(IxDyn(&order));
    let len = a.shape()[axis];
    let rows = a.len().checked_div(len).unwrap_or(0);
    let flat = moved
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((rows, len))
        .expect("rows * len elements");
    (flat, order)
}

/// The inverse of [`lanes_last`]: `[rows, len]` back to `shape` with the permutation undone.
fn lanes_back(flat: Array2<f64>, shape: &[usize], order: &[usize]) -> ArrayD<f64> {
    let moved: Vec<usize> = order.iter().map(|&k| shape[k]).collect();
    let a = flat
        .into_shape_with_order(IxDyn(&moved))
        .expect("same number of elements");
    let mut inverse = vec![0; order.len()];
    for (i, &k) in order.iter().enumerate() {
        inverse[k] = i;
    }
    a.permuted_axes(IxDyn(&inverse))
        .as_standard_layout()
        .into_owned()
}

/// Softmax along `axis`: each probability from [`softmax_row_bounds`]; the derivative
/// `dp_c = sum_k J_ck dz_k` with `J_cc = p_c (1 - p_c)` (concave: its extremes over `[pl, ph]`
/// are at the ends or at 1/2) and `J_ck = -p_c p_k`, each enclosed from the probability bounds
/// and multiplied into the logits' tangent intervals with outward rounding.
fn softmax_enclosure(at: &Node, p: &Iv, t: Option<&Iv>, axis: isize) -> AutogradResult<Val> {
    let rank = p.lo.ndim();
    let axis = if axis < 0 { axis + rank as isize } else { axis };
    if rank == 0 || axis < 0 || axis as usize >= rank {
        return Err(at.unsupported(format!("softmax axis {axis} of a rank-{rank} value")));
    }
    let axis = axis as usize;
    let shape = p.lo.shape().to_vec();
    let (zlo, order) = lanes_last(&p.lo, axis);
    let (zhi, _) = lanes_last(&p.hi, axis);
    let (rows, len) = zlo.dim();
    let mut plo = Array2::<f64>::zeros((rows, len));
    let mut phi = Array2::<f64>::zeros((rows, len));
    let mut probs = Vec::with_capacity(rows);
    for r in 0..rows {
        let bounds = softmax_row_bounds(
            zlo.row(r).as_slice().expect("standard layout"),
            zhi.row(r).as_slice().expect("standard layout"),
        );
        for (c, &(l, h)) in bounds.iter().enumerate() {
            plo[[r, c]] = l;
            phi[[r, c]] = h;
        }
        probs.push(bounds.into_iter().enumerate().collect::<Vec<_>>());
    }
    let primal = Iv {
        lo: lanes_back(plo, &shape, &order),
        hi: lanes_back(phi, &shape, &order),
    };
    let Some(t) = t else {
        return Ok(Val::Float { p: primal, t: None });
    };
    let n = t.lo.shape()[0];
    let mut tshape = vec![n];
    tshape.extend_from_slice(&shape);
    // Per input coordinate: the tangent as [rows, len] lanes.
    let mut out_lo = ArrayD::<f64>::zeros(IxDyn(&tshape));
    let mut out_hi = ArrayD::<f64>::zeros(IxDyn(&tshape));
    for j in 0..n {
        let (tl, _) = lanes_last(&t.lo.index_axis(Axis(0), j).to_owned(), axis);
        let (th, _) = lanes_last(&t.hi.index_axis(Axis(0), j).to_owned(), axis);
        let mut dl = Array2::<f64>::zeros((rows, len));
        let mut dh = Array2::<f64>::zeros((rows, len));
        for (r, lane) in probs.iter().enumerate() {
            for c in 0..len {
                (dl[[r, c]], dh[[r, c]]) =
                    softmax_lane_tangent(lane, c, |k| (tl[[r, k]], th[[r, k]]));
            }
        }
        out_lo
            .index_axis_mut(Axis(0), j)
            .assign(&lanes_back(dl, &shape, &order));
        out_hi
            .index_axis_mut(Axis(0), j)
            .assign(&lanes_back(dh, &shape, &order));
    }
    Ok(Val::Float {
        p: primal,
        t: Some(Iv {
            lo: out_lo,
            hi: out_hi,
        }),
    })
}

/// `[a, b] * [c, d]`, rounded outward.
fn interval_times((a, b): (f64, f64), (c, d): (f64, f64)) -> (f64, f64) {
    let ends = [(a, c), (a, d), (b, c), (b, d)];
    (
        ends.iter()
            .map(|&(x, y)| product_bound(x, y, true))
            .fold(f64::INFINITY, f64::min),
        ends.iter()
            .map(|&(x, y)| product_bound(x, y, false))
            .fold(f64::NEG_INFINITY, f64::max),
    )
}

/// The softmax Jacobian's diagonal `p (1 - p)` over `p` in `[l, h]`, rounded outward: concave,
/// so its extremes are at the ends or at 1/2; exactly 0 for a probability that is exactly 1.
fn softmax_diagonal((l, h): (f64, f64)) -> (f64, f64) {
    if (l, h) == (1.0, 1.0) {
        return (0.0, 0.0);
    }
    let f = |v: f64| v * (1.0 - v);
    let lo = f(l).min(f(h));
    let hi = if l <= 0.5 && 0.5 <= h {
        0.25
    } else {
        f(l).max(f(h))
    };
    let w = |v: f64| v.abs() * (4.0 * f64::EPSILON) + TINY;
    ((lo - w(lo)).max(0.0), (hi + w(hi)).min(0.25))
}

/// `dp_c = sum_k J_ck dz_k` for one softmax lane, enclosed: `lane` pairs each kept position
/// with its probability bounds, `c` indexes `lane`, `dz` gives a position's logit tangent.
/// `J_cc = p_c (1 - p_c)`, `J_ck = -p_c p_k`; a zero tangent adds nothing (exact zeros stay).
fn softmax_lane_tangent(
    lane: &[(usize, (f64, f64))],
    c: usize,
    dz: impl Fn(usize) -> (f64, f64),
) -> (f64, f64) {
    let pc = lane[c].1;
    let mut acc = (0.0, 0.0);
    for (k, &(position, pk)) in lane.iter().enumerate() {
        let d = dz(position);
        if d == (0.0, 0.0) {
            continue;
        }
        let jck = if k == c {
            softmax_diagonal(pc)
        } else {
            let (a, b) = interval_times(pc, pk);
            (-b, -a)
        };
        interval_plus(&mut acc, interval_times(jck, d));
    }
    acc
}

fn interval_plus(acc: &mut (f64, f64), (a, b): (f64, f64)) {
    acc.0 = sum_bound(acc.0, a, true);
    acc.1 = sum_bound(acc.1, b, false);
}

/// `scale * A B` for two varying operands `[..., m, k] x [..., k, p]` with the same batch axes:
/// the value by interval products, the tangent by the product rule `dA B + A dB`, every product
/// and sum rounded outward (an exact zero stays exact). `scale` is an interval.
#[allow(clippy::type_complexity)]
fn bilinear_matmul(
    at: &Node,
    (pa, ta): (&Iv, Option<&Iv>),
    (pb, tb): (&Iv, Option<&Iv>),
    scale: (f64, f64),
) -> AutogradResult<(Iv, Option<Iv>)> {
    let (sa, sb) = (pa.lo.shape(), pb.lo.shape());
    if sa.len() < 2 || sa.len() != sb.len() || sa[..sa.len() - 2] != sb[..sb.len() - 2] {
        return Err(at.unsupported(format!(
            "a product of two varying operands {sa:?} and {sb:?} (rank >= 2, the same batch axes)"
        )));
    }
    let r = sa.len();
    let (m, k, p) = (sa[r - 2], sa[r - 1], sb[r - 1]);
    if sb[r - 2] != k {
        return Err(at.unsupported(format!("matmul of {sa:?} and {sb:?}")));
    }
    let batch: usize = sa[..r - 2].iter().product();
    let mut out_shape = sa[..r - 2].to_vec();
    out_shape.extend([m, p]);
    let flat = |a: &ArrayD<f64>| -> Vec<f64> { a.as_standard_layout().iter().copied().collect() };
    let (alo, ahi) = (flat(&pa.lo), flat(&pa.hi));
    let (blo, bhi) = (flat(&pb.lo), flat(&pb.hi));
    let ai =
        |bt: usize, i: usize, l: usize| (alo[bt * m * k + i * k + l], ahi[bt * m * k + i * k + l]);
    let bi =
        |bt: usize, l: usize, j: usize| (blo[bt * k * p + l * p + j], bhi[bt * k * p + l * p + j]);
    let size = batch * m * p;
    let (mut vlo, mut vhi) = (vec![0.0; size], vec![0.0; size]);
    for bt in 0..batch {
        for i in 0..m {
            for j in 0..p {
                let mut acc = (0.0, 0.0);
                for l in 0..k {
                    interval_plus(&mut acc, interval_times(ai(bt, i, l), bi(bt, l, j)));
                }
                let v = interval_times(scale, acc);
                vlo[bt * m * p + i * p + j] = v.0;
                vhi[bt * m * p + i * p + j] = v.1;
            }
        }
    }
    let shaped = |v: Vec<f64>, shape: &[usize]| {
        ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| at.unsupported(e.to_string()))
    };
    let primal = Iv {
        lo: shaped(vlo, &out_shape)?,
        hi: shaped(vhi, &out_shape)?,
    };
    let n = match (ta, tb) {
        (Some(t), _) | (None, Some(t)) => t.lo.shape()[0],
        (None, None) => return Ok((primal, None)),
    };
    let tflat = |t: Option<&Iv>, len: usize| -> (Vec<f64>, Vec<f64>) {
        match t {
            Some(t) => (
                t.lo.as_standard_layout().iter().copied().collect(),
                t.hi.as_standard_layout().iter().copied().collect(),
            ),
            None => (vec![0.0; n * len], vec![0.0; n * len]),
        }
    };
    let (dalo, dahi) = tflat(ta, batch * m * k);
    let (dblo, dbhi) = tflat(tb, batch * k * p);
    let (mut tlo, mut thi) = (vec![0.0; n * size], vec![0.0; n * size]);
    for c in 0..n {
        let da = |bt: usize, i: usize, l: usize| {
            let x = c * batch * m * k + bt * m * k + i * k + l;
            (dalo[x], dahi[x])
        };
        let db = |bt: usize, l: usize, j: usize| {
            let x = c * batch * k * p + bt * k * p + l * p + j;
            (dblo[x], dbhi[x])
        };
        for bt in 0..batch {
            for i in 0..m {
                for j in 0..p {
                    let mut acc = (0.0, 0.0);
                    for l in 0..k {
                        let d1 = da(bt, i, l);
                        if d1 != (0.0, 0.0) {
                            interval_plus(&mut acc, interval_times(d1, bi(bt, l, j)));
                        }
                        let d2 = db(bt, l, j);
                        if d2 != (0.0, 0.0) {
                            interval_plus(&mut acc, interval_times(ai(bt, i, l), d2));
                        }
                    }
                    let v = interval_times(scale, acc);
                    let x = c * size + bt * m * p + i * p + j;
                    tlo[x] = v.0;
                    thi[x] = v.1;
                }
            }
        }
    }
    let mut tshape = vec![n];
    tshape.extend_from_slice(&out_shape);
    Ok((
        primal,
        Some(Iv {
            lo: shaped(tlo, &tshape)?,
            hi: shaped(thi, &tshape)?,
        }),
    ))
}

/// The last two axes of an interval (and of a tangent, whose axis 0 is the input coordinate)
/// swapped.
fn swap_last2(a: &ArrayD<f64>) -> ArrayD<f64> {
    let mut v = a.view();
    let n = v.ndim();
    v.swap_axes(n - 2, n - 1);
    v.as_standard_layout().into_owned()
}

/// `attention_weights(q, k, keep?)` as the kernel computes it: scores `scale * q k^T`
/// (bilinear), then a softmax over each query row's kept keys (causal: keys up to the query; a
/// keep mask that must be fixed: nonzero keeps). A masked weight is exactly 0 with derivative
/// exactly 0; a row with every key masked is all zeros.
fn attention_weights_enclosure(
    at: &Node,
    q: &Val,
    k: &Val,
    mask: Option<&Val>,
    causal: bool,
    scale: Option<f64>,
) -> AutogradResult<Val> {
    let (Val::Float { p: pq, t: tq }, Val::Float { p: pk, t: tk }) = (q, k) else {
        return Err(at.unsupported("integer attention operands"));
    };
    let e = *pq.lo.shape().last().unwrap_or(&0);
    let scale = match scale {
        Some(s) if s.is_finite() => (s, s),
        Some(_) => return Err(at.unsupported("a scale that is not finite")),
        None if e == 0 => (1.0, 1.0),
        // 1 / sqrt(E) rounds in f64: carry it as an interval.
        None => {
            let s = 1.0 / (e as f64).sqrt();
            (
                s * (1.0 - 2.0 * f64::EPSILON),
                s * (1.0 + 2.0 * f64::EPSILON),
            )
        }
    };
    let kt = Iv {
        lo: swap_last2(&pk.lo),
        hi: swap_last2(&pk.hi),
    };
    let tkt = tk.as_ref().map(|t| Iv {
        lo: swap_last2(&t.lo),
        hi: swap_last2(&t.hi),
    });
    let (scores, dscores) = bilinear_matmul(at, (pq, tq.as_ref()), (&kt, tkt.as_ref()), scale)?;
    let shape = scores.lo.shape().to_vec();
    let r = shape.len();
    let (l, s) = (shape[r - 2], shape[r - 1]);
    let keep: Option<ArrayD<bool>> = match mask {
        None => None,
        Some(Val::Int(t)) => Some(t.to_f64().mapv(|v| v != 0.0)),
        Some(Val::Float { p, t: None }) if p.is_point() => Some(p.lo.mapv(|v| v != 0.0)),
        Some(_) => return Err(at.unsupported("an attention mask that varies over the set")),
    };
    let keep = match keep {
        Some(m) => Some(
            m.broadcast(IxDyn(&shape))
                .ok_or_else(|| at.unsupported("a mask that does not broadcast to the scores"))?
                .to_owned(),
        ),
        None => None,
    };
    let rows = scores.lo.len() / s.max(1);
    let slo: Vec<f64> = scores.lo.as_standard_layout().iter().copied().collect();
    let shi: Vec<f64> = scores.hi.as_standard_layout().iter().copied().collect();
    let keep_flat: Option<Vec<bool>> =
        keep.map(|m| m.as_standard_layout().iter().copied().collect());
    let kept = |row: usize, j: usize| {
        let li = row % l.max(1);
        !(causal && j > li) && keep_flat.as_ref().is_none_or(|m| m[row * s + j])
    };
    let size = rows * s;
    let (mut plo, mut phi) = (vec![0.0; size], vec![0.0; size]);
    let mut probs: Vec<Vec<(usize, (f64, f64))>> = Vec::with_capacity(rows);
    for row in 0..rows {
        let idx: Vec<usize> = (0..s).filter(|&j| kept(row, j)).collect();
        let lo: Vec<f64> = idx.iter().map(|&j| slo[row * s + j]).collect();
        let hi: Vec<f64> = idx.iter().map(|&j| shi[row * s + j]).collect();
        let b = if idx.is_empty() {
            vec![]
        } else {
            softmax_row_bounds(&lo, &hi)
        };
        let pr: Vec<(usize, (f64, f64))> = idx.into_iter().zip(b).collect();
        for &(j, (a, c)) in &pr {
            plo[row * s + j] = a;
            phi[row * s + j] = c;
        }
        probs.push(pr);
    }
    let shaped = |v: Vec<f64>, shape: &[usize]| {
        ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| at.unsupported(e.to_string()))
    };
    let primal = Iv {
        lo: shaped(plo, &shape)?,
        hi: shaped(phi, &shape)?,
    };
    let Some(ds) = dscores else {
        return Ok(Val::Float { p: primal, t: None });
    };
    let n = ds.lo.shape()[0];
    let dlo: Vec<f64> = ds.lo.as_standard_layout().iter().copied().collect();
    let dhi: Vec<f64> = ds.hi.as_standard_layout().iter().copied().collect();
    let (mut tlo, mut thi) = (vec![0.0; n * size], vec![0.0; n * size]);
    for c in 0..n {
        for (row, lane) in probs.iter().enumerate() {
            let at_ = |k: usize| c * size + row * s + k;
            for (i, &(j, _)) in lane.iter().enumerate() {
                (tlo[at_(j)], thi[at_(j)]) =
                    softmax_lane_tangent(lane, i, |k| (dlo[at_(k)], dhi[at_(k)]));
            }
        }
    }
    let mut tshape = vec![n];
    tshape.extend_from_slice(&shape);
    Ok(Val::Float {
        p: primal,
        t: Some(Iv {
            lo: shaped(tlo, &tshape)?,
            hi: shaped(thi, &tshape)?,
        }),
    })
}

/// `log(sum exp(z))`, stably.
fn log_sum_exp(z: &[f64]) -> f64 {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + z.iter().map(|&v| (v - m).exp()).sum::<f64>().ln()
}

/// Cross entropy with fixed labels, as `cpu::cross_entropy` computes it: per row
/// `logsumexp(z) - z_label` (0 for an ignored label), then none / sum / mean over the counted
/// labels (an all-ignored mean is 0). The derivative by logit `z_c` of a row is
/// `p_c - [c == label]` times the row's weight, enclosed with the row's softmax bounds; an
/// ignored row contributes exactly nothing, so what reaches the loss only through it has a
/// derivative of exactly 0.
fn cross_entropy_enclosure(
    at: &Node,
    p: &Iv,
    t: Option<&Iv>,
    labels: &ArrayD<i64>,
    ignore_index: Option<i64>,
    reduction: crate::cpu::Reduction,
) -> AutogradResult<Val> {
    use crate::cpu::Reduction;
    if p.lo.ndim() == 0 {
        return Err(at.unsupported("logits of rank 0"));
    }
    let class_axis = usize::from(p.lo.ndim() > 1);
    let classes = p.lo.shape()[class_axis];
    let mut expected = p.lo.shape().to_vec();
    expected.remove(class_axis);
    if labels.shape() != expected.as_slice() {
        return Err(at.unsupported("labels that do not fit the logits"));
    }
    let ignored = |l: i64| Some(l) == ignore_index;
    let counted = labels.iter().filter(|&&l| !ignored(l)).count();
    // The row weight 1 / count rounds: carry it as an interval.
    let (wl, wh) = match reduction {
        Reduction::Mean if counted == 0 => (0.0, 0.0),
        Reduction::Mean => {
            let w = 1.0 / counted as f64;
            (
                w * (1.0 - 2.0 * f64::EPSILON),
                w * (1.0 + 2.0 * f64::EPSILON),
            )
        }
        Reduction::None | Reduction::Sum => (1.0, 1.0),
    };
    let out_shape: Vec<usize> = match reduction {
        Reduction::None => labels.shape().to_vec(),
        Reduction::Sum | Reduction::Mean => vec![],
    };
    let out_len: usize = out_shape.iter().product();
    let n = t.map_or(0, |t| t.lo.shape()[0]);
    let (mut vlo, mut vhi) = (vec![0.0; out_len], vec![0.0; out_len]);
    let (mut tlo, mut thi) = (vec![0.0; n * out_len], vec![0.0; n * out_len]);
    let position = |idx: &[usize], c: usize| {
        let mut at_: Vec<usize> = idx.to_vec();
        at_.insert(class_axis, c);
        at_
    };
    for (row, (idx, &label)) in labels.indexed_iter().enumerate() {
        if ignored(label) {
            continue;
        }
        if label < 0 || label >= classes as i64 {
            return Err(at.unsupported(format!("label {label} outside 0..{classes}")));
        }
        let l = label as usize;
        let idx = ndarray::Dimension::slice(&idx);
        let zlo: Vec<f64> = (0..classes)
            .map(|c| p.lo[IxDyn(&position(idx, c))])
            .collect();
        let zhi: Vec<f64> = (0..classes)
            .map(|c| p.hi[IxDyn(&position(idx, c))])
            .collect();
        // -log p_label: logsumexp is increasing in every logit.
        let slack = |v: f64| v.abs() * (64.0 * f64::EPSILON) + TINY;
        let low = log_sum_exp(&zlo) - zhi[l];
        let high = log_sum_exp(&zhi) - zlo[l];
        let (low, high) = ((low - slack(low)).max(0.0), high + slack(high));
        let o = if matches!(reduction, Reduction::None) {
            row
        } else {
            0
        };
        let (a, b) = interval_times((wl, wh), (low, high));
        vlo[o] = sum_bound(vlo[o], a, true);
        vhi[o] = sum_bound(vhi[o], b, false);
        let Some(t) = t else { continue };
        for (c, (pl, ph)) in softmax_row_bounds(&zlo, &zhi).into_iter().enumerate() {
            let onehot = if c == l { 1.0 } else { 0.0 };
            let coef = interval_times(
                (wl, wh),
                (sum_bound(pl, -onehot, true), sum_bound(ph, -onehot, false)),
            );
            let pos = position(idx, c);
            for j in 0..n {
                let mut full = vec![j];
                full.extend_from_slice(&pos);
                let (a, b) = (t.lo[IxDyn(&full)], t.hi[IxDyn(&full)]);
                if a == 0.0 && b == 0.0 {
                    continue;
                }
                let (lo, hi) = interval_times(coef, (a, b));
                let k = j * out_len + o;
                tlo[k] = sum_bound(tlo[k], lo, true);
                thi[k] = sum_bound(thi[k], hi, false);
            }
        }
    }
    let shaped = |v: Vec<f64>, shape: &[usize]| {
        ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| at.unsupported(e.to_string()))
    };
    let primal = Iv {
        lo: shaped(vlo, &out_shape)?,
        hi: shaped(vhi, &out_shape)?,
    };
    let t = match t {
        None => None,
        Some(_) => {
            let mut shape = vec![n];
            shape.extend_from_slice(&out_shape);
            Some(Iv {
                lo: shaped(tlo, &shape)?,
                hi: shaped(thi, &shape)?,
            })
        }
    };
    Ok(Val::Float { p: primal, t })
}

fn conv_enclosure<'a>(
    at: &Node,
    op: &KernelOp,
    bias: bool,
    float: impl Fn(usize) -> AutogradResult<(&'a Iv, Option<&'a Iv>)>,
    point: impl Fn(usize, &str) -> AutogradResult<ArrayD<f64>>,
) -> AutogradResult<Val> {
    let (p, t) = float(0)?;
    let nobias = match op {
        KernelOp::Conv2d { params, .. } => KernelOp::Conv2d {
            params: *params,
            bias: false,
        },
        KernelOp::Conv1d { params, .. } => KernelOp::Conv1d {
            params: *params,
            bias: false,
        },
        _ => return Err(at.unsupported("not a convolution")),
    };
    let mut rest = vec![point(1, "weight")?];
    if bias {
        rest.push(point(2, "bias")?);
    }
    let taps: usize = rest[0].shape()[1..].iter().product();
    let primal = through_weights(at, op, &nobias, p, &rest, taps, bias)?;
    let t = t
        .map(|t| tangent_through_weights(at, &nobias, t, &rest[0], taps))
        .transpose()?;
    Ok(Val::Float { p: primal, t })
}

/// Ops linear in their float operands with non-negative coefficients (sums, means, average pools,
/// data movement): the kernel maps lower to lower and upper to upper bounds, per direction for
/// the tangents; integer operands (indices) are kept.
fn monotone_linear(at: &Node, op: &KernelOp, args: &[&Val]) -> AutogradResult<Val> {
    let pick = |f: &dyn Fn(&Iv) -> ArrayD<f64>, tangent: bool| -> Vec<Option<Tensor>> {
        args.iter()
            .map(|v| match v {
                Val::Int(t) => Some(t.clone()),
                Val::Float { p, t: tv } => {
                    if tangent {
                        tv.as_ref().map(|t| Tensor::F64(f(t)))
                    } else {
                        Some(Tensor::F64(f(p)))
                    }
                }
            })
            .collect()
    };
    let run = |args: Vec<Option<Tensor>>, zeros_like: &dyn Fn(usize) -> Tensor| {
        let full: Vec<Tensor> = args
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.unwrap_or_else(|| zeros_like(i)))
            .collect();
        at.kernel(op, &full)
    };
    let no_zero = |_: usize| Tensor::F64(ArrayD::zeros(IxDyn(&[0])));
    let lo = run(pick(&|iv| iv.lo.clone(), false), &no_zero)?;
    let hi = run(pick(&|iv| iv.hi.clone(), false), &no_zero)?;
    let nonzero = |iv: &Iv| {
        Zip::from(&iv.lo)
            .and(&iv.hi)
            .map_collect(|&l, &h| f64::from(l != 0.0 || h != 0.0) * f64::MIN_POSITIVE)
    };
    let mag = run(pick(&Iv::mag, false), &no_zero)? + run(pick(&nonzero, false), &no_zero)?;
    let count: usize = args
        .iter()
        .map(|v| match v {
            Val::Float { p, .. } => p.lo.len(),
            Val::Int(_) => 0,
        })
        .sum();
    let rel = gamma(count + 2);
    let primal = Iv { lo, hi }.widen(&mag, rel);
    let dirs = args.iter().find_map(|v| match v {
        Val::Float { t: Some(t), .. } => Some(t.lo.shape()[0]),
        _ => None,
    });
    let t = match dirs {
        None => None,
        Some(n) => {
            let slice = |which: fn(&Iv) -> &ArrayD<f64>, d: usize| -> Vec<Tensor> {
                args.iter()
                    .map(|v| match v {
                        Val::Int(t) => t.clone(),
                        Val::Float { p, t: None } => Tensor::F64(ArrayD::zeros(p.lo.raw_dim())),
                        Val::Float { t: Some(t), .. } => {
                            Tensor::F64(which(t).index_axis(Axis(0), d).to_owned())
                        }
                    })
                    .collect()
            };
            let (mut tl, mut th, mut tm) = (Vec::new(), Vec::new(), Vec::new());
            for d in 0..n {
                tl.push(at.kernel(op, &slice(|t| &t.lo, d))?);
                th.push(at.kernel(op, &slice(|t| &t.hi, d))?);
                let mags: Vec<Tensor> = args
                    .iter()
                    .map(|v| match v {
                        Val::Int(t) => t.clone(),
                        Val::Float { p, t: None } => Tensor::F64(ArrayD::zeros(p.lo.raw_dim())),
                        Val::Float { t: Some(t), .. } => Tensor::F64(
                            Zip::from(t.lo.index_axis(Axis(0), d))
                                .and(t.hi.index_axis(Axis(0), d))
                                .map_collect(|&l, &h| {
                                    // The magnitude, or MIN_POSITIVE for a nonzero term whose
                                    // product could underflow.
                                    let m = l.abs().max(h.abs());
                                    if m > 0.0 {
                                        m.max(f64::MIN_POSITIVE)
                                    } else {
                                        0.0
                                    }
                                }),
                        ),
                    })
                    .collect();
                // Non-negative coefficients: the op on the magnitudes is the sum of |terms|.
                tm.push(at.kernel(op, &mags)?);
            }
            let stack = |parts: &[ArrayD<f64>]| {
                let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
                ndarray::stack(Axis(0), &views).map_err(|e| {
                    AutogradError::Exec(ExecError::InvalidGraph {
                        detail: e.to_string(),
                    })
                })
            };
            Some(
                Iv {
                    lo: stack(&tl)?,
                    hi: stack(&th)?,
                }
                .widen(&stack(&tm)?, rel),
            )
        }
    };
    Ok(Val::Float { p: primal, t })
}

#[cfg(test)]
#[path = "enclosure_tests.rs"]
mod tests;
