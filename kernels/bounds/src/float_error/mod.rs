//! A sound forward error analysis of tl's compiled f32 executor (and of the f64 reference
//! evaluator) against the real-valued semantics of a graph, over an input box.
//!
//! Per layer it keeps a sound enclosure `[l, u]` of the *real* value (IBP or CROWN bounds with
//! outward rounding, `f32_executor` off) and a bound `e` with `|computed - real| <= e`
//! elementwise. Each rule follows the arithmetic the executors actually run (read in
//! `tl-kernels`: `cpu/gemm.rs`, `cpu/conv.rs`, `cpu/pool.rs`, `cpu/elementwise.rs`):
//!
//! - **input**: the executor reads `f32(x)` of a real point `x`: `e = u |x|` (+ the underflow
//!   term `eta` for points below the normal range).
//! - **dot products** (linear, matmul by a constant, conv2d as its dense matrix, avg_pool2d as
//!   sum / count, a bias add fused in): the GEMM micro-kernels start each accumulator at the bias
//!   and add one product per k step, with FMA (AVX-512, AVX2) or with a rounded product (portable
//!   build); the reference sums in whatever order ndarray picks. Every order satisfies
//!   `|fl(sum) - sum| <= gamma(n) sum |terms|` (Higham, *Accuracy and Stability of Numerical
//!   Algorithms*, 2nd ed., 3.1) with `n` the number of roundings on the longest path. Zero
//!   products (structural zeros of a lowered convolution, padding) add exactly. Per output row,
//!   `n = nnz + 3` covers: nnz additions, the product rounding without FMA, the weight's and the
//!   bias's f32 rounding (the payload is f64), and a separate bias add or pool division. Then
//!   `e_out = |W| e_in + gamma(n) (|W| (m + e_in) + |b|) + (n + 1) eta (1 + |W| 1)` where `m` bounds
//!   the real input's magnitude.
//! - **scale/shift by a constant** (add/sub/mul/div by a param or literal, neg): at most two
//!   roundings of the constant and one of the op: `|s| e + gamma(2) (|s| (m + e) + |t|)`.
//! - **add/sub** of two computed tensors: `(e_a + e_b) + u (|out| + e_a + e_b)`.
//! - **relu, max_pool2d, transpose/permute/slice, concat, pad**: exact ops, 1-Lipschitz in max
//!   norm: `e_out = e_in` (relu: 0 where the computed and the real input are both <= 0); a
//!   concat's constant operand (a param or a literal) and a pad's fill value are rounded once to
//!   the format: `u |c| + eta`.
//! - **leaky relu** (`x * f32(alpha)`): `max(1, |alpha|) e + gamma(2) |alpha| (m + e)`.
//! - **tanh, sigmoid**: the largest derivative over `[l - e, u + e]` times `e`, plus the rounding
//!   of the implementation: std's `f32::tanh`/`f32::exp` call the platform libm (glibc's `tanhf`
//!   and `expf` on Linux: at most 2 ulp and 1 ulp in glibc's published `libm-test-ulps` tables).
//!   tl does not check the libm it links, so these nodes rest on the named assumption
//!   [`LIBM_ASSUMPTION`] (each call within 4 ulp = `8 u` relative, `8 eta` absolute for a
//!   subnormal result). Under it: tanh adds `8 u` absolute; sigmoid (`1 / (1 + exp(-x))` for `x >= 0`, `exp(x) / (1 + exp(x))` below) adds
//!   `20 u` absolute (relative `10 u` resp. `18 u` on a value in `[0, 1]`, rounded up).
//!
//! Anything else (batch norm, a constant folded from an expression, an op this list does not
//! name) makes the node, and so the output, `Unmodelled` with the reason: never a silent bound.
//! Ranges reaching f32 overflow (half of `f32::MAX`, so that one more rounding cannot overflow)
//! are `Unmodelled` too; subnormal results are covered by the additive `eta` terms (gradual
//! underflow: each rounding adds at most half the smallest subnormal; flush-to-zero is not
//! enabled by the executor).
//!
//! The bookkeeping runs in f64 with round-to-nearest; every bound is multiplied by `1 + 1e-9`
//! at each layer, which dominates the relative rounding of the few f64 operations per element.

use ndarray::Array1;
use tl_ir::{Graph, NodeKind, Op};

use crate::crown::{Analysis, CrownOptions, InputBox, Method};
use crate::net::{BoundNet, ConcatPart, Layer};
use crate::rounding::{gamma_with, U32, U64};

mod composite;
use composite::Step;

/// The named assumption tanh and sigmoid nodes rest on.
pub const LIBM_ASSUMPTION: &str = "float.libm_within_4ulp: expf/logf/tanhf/powf (f32) and exp/ln/tanh/powf (f64) of the platform libm, called by std, and erff/erf of the `libm` crate (a port of musl) are within 4 ulp of the real function";

/// Half the smallest positive subnormal of each format (the absolute error of one rounding in
/// the gradual-underflow range).
const ETA32: f64 = 7.006_492_321_624_085e-46; // 2^-150
const ETA64: f64 = 2.470_328_229_206_232_7e-324; // 2^-1075 rounds to 2^-1074

/// Magnitude above which one more rounding could overflow f32.
const OVERFLOW32: f64 = f32::MAX as f64 / 2.0;

/// Which arithmetic a pass models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    F32,
    F64,
}

impl Format {
    fn u(self) -> f64 {
        match self {
            Format::F32 => U32,
            Format::F64 => U64,
        }
    }
    fn eta(self) -> f64 {
        match self {
            Format::F32 => ETA32,
            Format::F64 => ETA64.max(f64::from_bits(1)),
        }
    }
}

/// One layer's result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeBound {
    /// The tl graph node the layer came from.
    pub name: String,
    /// The layer kind (`affine`, `relu`, ...).
    pub kind: &'static str,
    /// Elementwise enclosure of the real value.
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Elementwise bound on |computed - real|.
    pub abs: Vec<f64>,
    /// The rule used, for the per-node budget listing.
    pub rule: String,
}

impl NodeBound {
    /// The largest absolute error bound over the elements.
    pub fn max_abs(&self) -> f64 {
        self.abs.iter().fold(0.0, |m, &e| m.max(e))
    }
    /// The largest relative error bound over the elements, where every element's real range
    /// excludes zero (else `None`: a relative bound is not meaningful).
    pub fn max_rel(&self) -> Option<f64> {
        let mut worst: f64 = 0.0;
        for ((&l, &u), &e) in self.lower.iter().zip(&self.upper).zip(&self.abs) {
            let dist = if l > 0.0 {
                l
            } else if u < 0.0 {
                -u
            } else {
                return None;
            };
            worst = worst.max(e / dist);
        }
        Some(worst)
    }
}

/// Why no bound could be derived.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Unmodelled {
    /// The graph node where the analysis stopped.
    pub node: String,
    pub reason: String,
}

impl std::fmt::Display for Unmodelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.node, self.reason)
    }
}

/// The result of one pass over a net.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FloatBounds {
    /// Per live layer, in order.
    pub nodes: Vec<NodeBound>,
    /// Index into `nodes` of the net's output.
    pub output: usize,
    /// Named assumptions the bound rests on (empty: it rests only on IEEE-754 round-to-nearest
    /// arithmetic of the executor and the reading of its kernels above).
    pub assumptions: Vec<String>,
}

impl FloatBounds {
    pub fn output(&self) -> &NodeBound {
        &self.nodes[self.output]
    }
}

/// Bounds of `|compiled f32 - real|` per layer (`Format::F32`), or of the f64 reference's
/// `|reference - real|` (`Format::F64`). `graph` is the graph `net` was lowered from (its node
/// names identify each layer's op). `method` picks the range analysis (IBP or CROWN).
pub fn analyze(
    net: &BoundNet,
    graph: &Graph,
    input: &InputBox,
    method: Method,
    format: Format,
) -> Result<FloatBounds, Unmodelled> {
    let opts = CrownOptions {
        intersect_ibp: true,
        sound: true,
        f32_executor: false,
    };
    let an = Analysis::new(net, input, method, opts, &[])
        .map_err(|e| Unmodelled {
            node: net.nodes[0].name.clone(),
            reason: format!("range analysis failed: {}", e.message),
        })?
        .ok_or_else(|| Unmodelled {
            node: net.nodes[0].name.clone(),
            reason: "empty input set".into(),
        })?;
    let live = net.live();
    let u = format.u();
    let eta = format.eta();
    let bump = 1.0 + 1e-9;
    let mut errs: Vec<Array1<f64>> = Vec::with_capacity(net.nodes.len());
    let mut out_nodes = Vec::new();
    let mut output = 0;
    let mut assumptions: Vec<String> = Vec::new();
    for (i, node) in net.nodes.iter().enumerate() {
        if !live[i] {
            errs.push(Array1::zeros(0));
            continue;
        }
        let lo = &an.lower[i];
        let hi = &an.upper[i];
        let stop = |reason: String| Unmodelled {
            node: node.name.clone(),
            reason,
        };
        let mag = |k: usize| -> Array1<f64> {
            ndarray::Zip::from(&an.lower[k])
                .and(&an.upper[k])
                .map_collect(|l, h| l.abs().max(h.abs()))
        };
        let origin = graph_op(graph, &node.name);
        let cx = composite::Cx {
            net,
            graph,
            lower: &an.lower,
            upper: &an.upper,
            errs: &errs,
            u,
            eta,
        };
        let composite = composite::rule(&cx, i);
        let (e, rule): (Array1<f64>, String) = match (composite, &node.layer) {
            (Some(Err(reason)), _) => return Err(stop(reason)),
            (Some(Ok(Step::Internal)), _) => {
                if i == net.output {
                    return Err(stop("the output is a step inside an op".into()));
                }
                errs.push(Array1::from_elem(node.size, f64::NAN));
                continue;
            }
            (Some(Ok(Step::Bound(e, rule))), _) => (e, rule),
            (Some(Ok(Step::Libm(e, rule))), _) => {
                if !assumptions.iter().any(|a| a == LIBM_ASSUMPTION) {
                    assumptions.push(LIBM_ASSUMPTION.to_string());
                }
                (e, rule)
            }
            (None, layer) => match layer {
                Layer::Input => {
                    let m: Array1<f64> = input
                        .lower
                        .iter()
                        .zip(&input.upper)
                        .map(|(l, h)| l.abs().max(h.abs()))
                        .collect();
                    (m.mapv(|m| u * m + eta), "input rounding u|x|".into())
                }
                Layer::Affine {
                    src, w, w_abs, b, ..
                } => {
                    check_dot_origin(graph, &node.name, origin).map_err(stop)?;
                    let ex = &errs[*src];
                    let mx = mag(*src) + ex;
                    let prop = w_abs.dot(ex);
                    let absdot = w_abs.dot(&mx) + b.mapv(f64::abs);
                    let row_abs: Array1<f64> = w_abs.sum_axis(ndarray::Axis(1));
                    let mut e = Array1::zeros(node.size);
                    let mut nmax = 0usize;
                    for (j, row) in w.outer_iter().enumerate() {
                        let nnz = row.iter().filter(|v| **v != 0.0).count();
                        let n = nnz + 3;
                        nmax = nmax.max(n);
                        let g = gamma_with(n as f64, u);
                        e[j] =
                            prop[j] + g * absdot[j] + (n as f64 + 1.0) * eta * (1.0 + row_abs[j]);
                    }
                    (
                        e,
                        format!("dot product, gamma({nmax}) over |W|(|x|+e) + |b|"),
                    )
                }
                Layer::Scale {
                    src, scale, shift, ..
                } => {
                    check_scale_origin(graph, &node.name, origin).map_err(stop)?;
                    let ex = &errs[*src];
                    let mx = mag(*src) + ex;
                    let g = gamma_with(2.0, u);
                    let sa = scale.mapv(f64::abs);
                    let e = &sa * ex + (&sa * &mx + shift.mapv(f64::abs)) * g + 3.0 * eta;
                    (e, "scale/shift by a constant, gamma(2)".into())
                }
                Layer::Add { a, b } | Layer::Sub { a, b } => {
                    if !matches!(origin, Some(Op::Add | Op::Sub)) {
                        return Err(stop(format!(
                            "{} lowered from {origin:?}: not modelled",
                            node.layer.kind_name()
                        )));
                    }
                    let s = &errs[*a] + &errs[*b];
                    let e = &s * (1.0 + u) + mag(i) * u;
                    (e, "add/sub, one rounding".into())
                }
                Layer::Gather { src, index } => {
                    if !matches!(
                        origin,
                        Some(Op::Transpose | Op::Permute | Op::Slice | Op::Concat | Op::Pad)
                    ) {
                        return Err(stop(format!(
                            "gather lowered from {origin:?}: not modelled"
                        )));
                    }
                    let ex = &errs[*src];
                    (
                        index.iter().map(|&k| ex[k]).collect(),
                        "data movement, exact".into(),
                    )
                }
                Layer::Concat { parts } => {
                    // The block layer of a concat or a pad is named `node.blocks` / `node.fill`.
                    let base = match origin {
                        Some(_) => node.name.as_str(),
                        None => [".blocks", ".fill"]
                            .iter()
                            .find_map(|suffix| node.name.strip_suffix(suffix))
                            .unwrap_or(node.name.as_str()),
                    };
                    match graph_op(graph, base) {
                        Some(Op::Concat) => constants_direct(graph, base).map_err(stop)?,
                        Some(Op::Pad) => {}
                        other => {
                            return Err(stop(format!(
                                "concat lowered from {other:?}: not modelled"
                            )))
                        }
                    }
                    let mut e = Vec::with_capacity(node.size);
                    for p in parts {
                        match p {
                            ConcatPart::Layer(k) => e.extend(errs[*k].iter()),
                            ConcatPart::Const(c) => e.extend(c.iter().map(|v| u * v.abs() + eta)),
                        }
                    }
                    (
                        Array1::from(e),
                        "data movement, exact (constants rounded once)".into(),
                    )
                }
                Layer::Relu { src } => {
                    let ex = &errs[*src];
                    let hs = &an.upper[*src];
                    let e = ndarray::Zip::from(ex).and(hs).map_collect(|&e, &h| {
                        if h + e <= 0.0 {
                            0.0
                        } else {
                            e
                        }
                    });
                    (e, "relu, exact and 1-Lipschitz".into())
                }
                Layer::LeakyRelu { src, alpha } => {
                    let ex = &errs[*src];
                    let mx = mag(*src) + ex;
                    // `x * f32(alpha)`: the slope's rounding and the product's.
                    let e =
                        ex * alpha.abs().max(1.0) + mx * (gamma_with(2.0, u) * alpha.abs()) + eta;
                    (e, "leaky relu, gamma(2)".into())
                }
                Layer::MaxPool { src, windows } => {
                    let ex = &errs[*src];
                    let e = windows
                        .iter()
                        .map(|w| w.iter().fold(0.0f64, |m, &k| m.max(ex[k])))
                        .collect();
                    (e, "max over a window, exact and 1-Lipschitz".into())
                }
                Layer::Unary { .. } | Layer::Mul { .. } | Layer::Softmax { .. } => {
                    return Err(stop(format!(
                        "{} has no derived-float-error rule yet",
                        node.layer.kind_name()
                    )))
                }
                Layer::Tanh { src } | Layer::Sigmoid { src } => {
                    let tanh = matches!(node.layer, Layer::Tanh { .. });
                    let ex = &errs[*src];
                    let (ls, hs) = (&an.lower[*src], &an.upper[*src]);
                    let local = if tanh { 8.0 * u } else { 20.0 * u };
                    let mut e = Array1::zeros(node.size);
                    for j in 0..node.size {
                        // Distance of [l - e, h + e] from 0: the derivative is largest there.
                        let (a, b) = (ls[j] - ex[j], hs[j] + ex[j]);
                        let d = if a > 0.0 {
                            a
                        } else if b < 0.0 {
                            -b
                        } else {
                            0.0
                        };
                        let slope = if tanh {
                            let t = d.tanh();
                            1.0 - t * t
                        } else {
                            let s = 1.0 / (1.0 + (-d).exp());
                            s * (1.0 - s)
                        };
                        // The f64 evaluation of the slope is itself inexact: pad it.
                        let slope = (slope * (1.0 + 1e-6)).min(if tanh { 1.0 } else { 0.25 });
                        // 4 ulp of a subnormal result is 8 eta absolute.
                        e[j] = slope * ex[j] + local + 8.0 * eta;
                    }
                    if !assumptions.iter().any(|a| a == LIBM_ASSUMPTION) {
                        assumptions.push(LIBM_ASSUMPTION.to_string());
                    }
                    (
                        e,
                        format!(
                            "{} (Lipschitz on the range) + {} u (libm within 4 ulp, assumed)",
                            node.layer.kind_name(),
                            if tanh { 8 } else { 20 }
                        ),
                    )
                }
            },
        };
        let e = e.mapv(|v| v * bump);
        if e.iter().any(|v| !v.is_finite()) {
            return Err(stop("the error bound is not finite (a dot product too long for gamma(n), or an unbounded range)".into()));
        }
        if format == Format::F32
            && lo
                .iter()
                .zip(hi)
                .zip(&e)
                .any(|((l, h), e)| l.abs().max(h.abs()) + e > OVERFLOW32)
        {
            return Err(stop(format!(
                "the range reaches the f32 overflow threshold ({OVERFLOW32:.3e}): not modelled"
            )));
        }
        if i == net.output {
            output = out_nodes.len();
        }
        out_nodes.push(NodeBound {
            name: node.name.clone(),
            kind: node.layer.kind_name(),
            lower: lo.to_vec(),
            upper: hi.to_vec(),
            abs: e.to_vec(),
            rule,
        });
        errs.push(e);
    }
    Ok(FloatBounds {
        nodes: out_nodes,
        output,
        assumptions,
    })
}

/// The bound of `|compiled f32 - reference f64|` at the output: the f32 pass plus the f64 pass
/// (both against the real value), elementwise. Returns the f32 pass (per node) and the combined
/// output bound.
pub fn executor_vs_reference(
    net: &BoundNet,
    graph: &Graph,
    input: &InputBox,
    method: Method,
) -> Result<(FloatBounds, Vec<f64>), Unmodelled> {
    let f32_pass = analyze(net, graph, input, method, Format::F32)?;
    let f64_pass = analyze(net, graph, input, method, Format::F64)?;
    let combined = f32_pass
        .output()
        .abs
        .iter()
        .zip(&f64_pass.output().abs)
        .map(|(a, b)| (a + b) * (1.0 + 1e-9))
        .collect();
    Ok((f32_pass, combined))
}

fn node_by_name<'g>(graph: &'g Graph, name: &str) -> Option<&'g tl_ir::Node> {
    graph.nodes.iter().find(|n| n.name == name)
}

fn graph_op(graph: &Graph, name: &str) -> Option<Op> {
    match &node_by_name(graph, name)?.kind {
        NodeKind::Op { op, .. } => Some(*op),
        _ => None,
    }
}

/// Whether every constant operand of `name` is read as is (a param or a literal), so the
/// executor rounds it once to f32. A constant computed from other constants is folded in f64 by
/// the lowering but computed in f32 by the executor: not modelled.
fn constants_direct(graph: &Graph, name: &str) -> Result<(), String> {
    let Some(node) = node_by_name(graph, name) else {
        return Err("not a node of the graph".into());
    };
    for &p in &node.parents {
        let parent = &graph.nodes[p];
        if depends_on_input(graph, p) {
            continue;
        }
        match &parent.kind {
            NodeKind::Param { .. } | NodeKind::Op { op: Op::Constant, .. } => {}
            _ => {
                return Err(format!(
                    "its constant operand `{}` is computed from other constants (folded in f64, computed in f32 by the executor): not modelled",
                    parent.name
                ))
            }
        }
    }
    Ok(())
}

fn depends_on_input(graph: &Graph, id: usize) -> bool {
    let mut stack = vec![id];
    let mut seen = vec![false; graph.nodes.len()];
    while let Some(k) = stack.pop() {
        if k >= seen.len() || seen[k] {
            continue;
        }
        seen[k] = true;
        let n = &graph.nodes[k];
        if matches!(n.kind, NodeKind::Input) {
            return true;
        }
        stack.extend(n.parents.iter().copied());
    }
    false
}

fn check_dot_origin(graph: &Graph, name: &str, origin: Option<Op>) -> Result<(), String> {
    match origin {
        Some(Op::Add | Op::Sub) => {
            // A bias add fused into the matmul it follows: the matmul's constant too.
            constants_direct(graph, name)?;
            let node = node_by_name(graph, name).ok_or("not a node of the graph")?;
            for &p in &node.parents {
                let parent = &graph.nodes[p];
                match &parent.kind {
                    NodeKind::Op {
                        op: Op::Linear | Op::Matmul,
                        ..
                    } => constants_direct(graph, &parent.name)?,
                    NodeKind::Op { op, .. } if depends_on_input(graph, p) => {
                        return Err(format!(
                            "a dense layer fused from {:?} and {op:?}: not modelled",
                            Op::Add
                        ))
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        Some(Op::Linear | Op::Matmul | Op::Conv2d | Op::AvgPool2d) => constants_direct(graph, name),
        // A sum or mean reduction: one addition per term, then the division by the count.
        Some(Op::Sum | Op::Mean) => Ok(()),
        other => Err(format!(
            "a dense layer lowered from {other:?}: its kernel is not modelled"
        )),
    }
}

fn check_scale_origin(graph: &Graph, name: &str, origin: Option<Op>) -> Result<(), String> {
    match origin {
        Some(Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Neg) => constants_direct(graph, name),
        other => Err(format!(
            "an elementwise scale lowered from {other:?}: its kernel is not modelled"
        )),
    }
}
