//! The verifier's own view of a network: every tensor flattened (row-major, batch included) and
//! every op lowered to one of a few layer kinds whose relaxations are known. Lowering folds
//! constants (params, literals, arithmetic on them) so layers only ever see the input's dependents.

use std::sync::Arc;

use ndarray::{Array1, Array2};

use crate::execute::Executor;

use crate::unary::UnaryFn;

/// One layer; `src`/`a`/`b` are indices of earlier layers.
#[derive(Clone, Debug)]
pub enum Layer {
    /// The network input (exactly one).
    Input,
    /// `y = w x + b` with a dense matrix (linear, matmul with a constant, conv2d, avg_pool2d).
    /// `coef_ulps`: how many rounding errors (in units of f64 epsilon) the stored coefficients may
    /// carry relative to the exact op (0 for weights copied exactly, 1 for `1/k` of a pool).
    Affine {
        src: usize,
        w: Array2<f64>,
        /// |w|, kept for the interval and rounding-error passes.
        w_abs: Array2<f64>,
        b: Array1<f64>,
        coef_ulps: u32,
    },
    /// `y = scale * x + shift` elementwise (batch_norm, add/sub/mul/div by a constant, neg).
    /// `shift_err` bounds |exact shift - stored shift| elementwise (batch_norm folding rounds).
    Scale {
        src: usize,
        scale: Array1<f64>,
        shift: Array1<f64>,
        coef_ulps: u32,
        shift_err: Array1<f64>,
        /// The magnitude of the terms the f32 executor sums to make the shift itself (`|bias| +
        /// |mean * s|` for batch_norm, whose `s` and `t` the executor folds in f32), zero where
        /// the executor reads the shift as a constant. The shift may cancel (`bias ~ mean * s`),
        /// so the executor's rounding scales with these terms, not with `|shift|`.
        f32_fold_terms: Array1<f64>,
    },
    /// `y = a + b` (same size).
    Add {
        a: usize,
        b: usize,
    },
    /// `y = a - b` (same size).
    Sub {
        a: usize,
        b: usize,
    },
    /// `y[j] = x[index[j]]` (transpose, permute, slice).
    Gather {
        src: usize,
        index: Vec<usize>,
    },
    Relu {
        src: usize,
    },
    LeakyRelu {
        src: usize,
        alpha: f64,
    },
    Sigmoid {
        src: usize,
    },
    Tanh {
        src: usize,
    },
    /// `y[j] = max over x[windows[j]]` (padding cells are never the maximum and are left out).
    MaxPool {
        src: usize,
        windows: Vec<Vec<usize>>,
    },
    /// `y = f(x)` elementwise for a function of `unary.rs` (exp, erf, gelu, rsqrt, ...).
    Unary {
        src: usize,
        f: UnaryFn,
    },
    /// `y = a * b` elementwise, both operands bounded (interval product; McCormick planes).
    Mul {
        a: usize,
        b: usize,
    },
    /// Softmax over each group of positions (`y` has `x`'s size; positions in no group, a
    /// causal mask's future, are exactly 0).
    /// Bounded directly: `y_i >= 1 / (1 + sum_{j != i} exp(u_j - l_i))`, the upper bound
    /// likewise; CROWN treats it as an interval layer (constant lines).
    Softmax {
        src: usize,
        groups: Vec<Vec<usize>>,
    },
    /// `y = [p_0; p_1; ...]`: the parts' vectors one after another (concat, a pad's fill).
    /// Exact data movement: a concat along an inner axis is this block concatenation followed by
    /// a [`Layer::Gather`] that interleaves the blocks; constant parts are exact `[c, c]` boxes.
    Concat {
        parts: Vec<ConcatPart>,
    },
}

/// One block of a [`Layer::Concat`].
#[derive(Clone, Debug)]
pub enum ConcatPart {
    /// An earlier layer's whole vector.
    Layer(usize),
    /// A block that does not depend on the input (a constant operand, a pad's fill value).
    Const(Array1<f64>),
}

impl ConcatPart {
    /// The part's length (a layer part's is its layer's size in `nodes`).
    pub fn size(&self, nodes: &[NetNode]) -> usize {
        match self {
            ConcatPart::Layer(k) => nodes[*k].size,
            ConcatPart::Const(c) => c.len(),
        }
    }
}

impl Layer {
    pub fn affine(src: usize, w: Array2<f64>, b: Array1<f64>, coef_ulps: u32) -> Layer {
        Layer::Affine {
            src,
            w_abs: w.mapv(f64::abs),
            w,
            b,
            coef_ulps,
        }
    }

    /// Layers this one reads.
    pub fn parents(&self) -> Vec<usize> {
        match self {
            Layer::Input => vec![],
            Layer::Add { a, b } | Layer::Sub { a, b } | Layer::Mul { a, b } => vec![*a, *b],
            Layer::Affine { src, .. }
            | Layer::Scale { src, .. }
            | Layer::Gather { src, .. }
            | Layer::Relu { src }
            | Layer::LeakyRelu { src, .. }
            | Layer::Sigmoid { src }
            | Layer::Tanh { src }
            | Layer::MaxPool { src, .. }
            | Layer::Unary { src, .. }
            | Layer::Softmax { src, .. } => vec![*src],
            Layer::Concat { parts } => parts
                .iter()
                .filter_map(|p| match p {
                    ConcatPart::Layer(k) => Some(*k),
                    ConcatPart::Const(_) => None,
                })
                .collect(),
        }
    }

    /// Whether bounds on this layer's input are needed to relax it.
    pub fn is_nonlinear(&self) -> bool {
        matches!(
            self,
            Layer::Relu { .. }
                | Layer::LeakyRelu { .. }
                | Layer::Sigmoid { .. }
                | Layer::Tanh { .. }
                | Layer::MaxPool { .. }
                | Layer::Unary { .. }
                | Layer::Mul { .. }
                | Layer::Softmax { .. }
        )
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Layer::Input => "input",
            Layer::Affine { .. } => "affine",
            Layer::Scale { .. } => "scale",
            Layer::Add { .. } => "add",
            Layer::Sub { .. } => "sub",
            Layer::Gather { .. } => "gather",
            Layer::Relu { .. } => "relu",
            Layer::LeakyRelu { .. } => "leaky_relu",
            Layer::Sigmoid { .. } => "sigmoid",
            Layer::Tanh { .. } => "tanh",
            Layer::MaxPool { .. } => "max_pool2d",
            Layer::Unary { f, .. } => f.name(),
            Layer::Mul { .. } => "mul",
            Layer::Softmax { .. } => "softmax",
            Layer::Concat { .. } => "concat",
        }
    }
}

/// A layer with its flattened size and the graph node it came from.
#[derive(Clone, Debug)]
pub struct NetNode {
    pub layer: Layer,
    pub size: usize,
    /// Name of the tl graph node (for certificates and messages).
    pub name: String,
    /// Shape of the tensor (row-major flattening of it is the layer's vector).
    pub shape: Vec<usize>,
}

/// A lowered network: layers in topological order, layer 0 is the input, `output` is the layer
/// whose bounds are asked for.
#[derive(Clone, Debug)]
pub struct BoundNet {
    pub nodes: Vec<NetNode>,
    pub output: usize,
    /// tl-kernels' engines over the graph this net was lowered from: counterexamples are confirmed
    /// there. `None` for a net built layer by layer, which can be bounded but never falsified.
    pub exec: Option<Arc<Executor>>,
}

impl BoundNet {
    pub fn input_size(&self) -> usize {
        self.nodes[0].size
    }
    pub fn output_size(&self) -> usize {
        self.nodes[self.output].size
    }
    /// Indices of layers that read `i`.
    pub fn children(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for p in n.layer.parents() {
                out[p].push(i);
            }
        }
        out
    }
    /// Folds `scale = 1` elementwise shifts into a preceding bias-free affine layer read by
    /// nothing else (ONNX's MatMul + Add): exact, and one backward step less.
    pub fn fuse_bias_adds(&mut self) {
        let children = self.children();
        for i in 0..self.nodes.len() {
            let Layer::Scale {
                src,
                scale,
                shift,
                shift_err,
                f32_fold_terms,
                ..
            } = &self.nodes[i].layer
            else {
                continue;
            };
            // A folded batch norm's shift carries rounding terms an affine bias has no room for.
            if shift_err.iter().chain(f32_fold_terms).any(|&v| v != 0.0) {
                continue;
            }
            let src = *src;
            if children[src].len() != 1 || src == self.output || scale.iter().any(|&s| s != 1.0) {
                continue;
            }
            if let Layer::Affine {
                src: a_src,
                w,
                w_abs,
                b,
                coef_ulps,
            } = &self.nodes[src].layer
            {
                if b.iter().any(|&v| v != 0.0) {
                    continue;
                }
                self.nodes[i].layer = Layer::Affine {
                    src: *a_src,
                    w: w.clone(),
                    w_abs: w_abs.clone(),
                    b: shift.clone(),
                    coef_ulps: *coef_ulps,
                };
            }
        }
    }

    /// Bytes the lowered network holds (its matrices and vectors), approximately.
    pub fn bytes(&self) -> usize {
        let f = std::mem::size_of::<f64>();
        self.nodes
            .iter()
            .map(|n| match &n.layer {
                Layer::Affine { w, b, .. } => (2 * w.len() + b.len()) * f,
                Layer::Scale { scale, .. } => 3 * scale.len() * f,
                Layer::Gather { index, .. } => index.len() * std::mem::size_of::<usize>(),
                Layer::Concat { parts } => parts
                    .iter()
                    .map(|p| match p {
                        ConcatPart::Layer(_) => std::mem::size_of::<usize>(),
                        ConcatPart::Const(c) => c.len() * f,
                    })
                    .sum(),
                Layer::MaxPool { windows, .. }
                | Layer::Softmax {
                    groups: windows, ..
                } => {
                    windows.iter().map(|w| w.len() + 3).sum::<usize>()
                        * std::mem::size_of::<usize>()
                }
                _ => 0,
            })
            .sum()
    }

    /// Bytes one bound pass with backward passes of `rows` rows takes, approximately: the
    /// per-layer bound vectors plus, at worst, one coefficient matrix per live layer.
    pub fn pass_bytes(&self, rows: usize) -> usize {
        let sizes: usize = self.nodes.iter().map(|n| n.size).sum();
        sizes
            .saturating_mul(rows + 8)
            .saturating_mul(std::mem::size_of::<f64>())
    }

    /// Where layer `i` is layer norm's `c * rsqrt(mean(c^2) + eps)` with `c` a row minus its
    /// mean (the chain `lower.rs` builds: centered, squared, var_eps, rsqrt, rsqrt_b, product),
    /// the size of each element's row; checked on the coefficients, not on the names. Then
    /// `|c_j| <= sqrt((d - 1) mean(c^2))`, so the product lies in `[-sqrt(d - 1), sqrt(d - 1)]`.
    pub fn normalized_rows(&self, i: usize) -> Option<Vec<usize>> {
        let Layer::Mul { a: cen, b: rb } = &self.nodes[i].layer else {
            return None;
        };
        let Layer::Gather { src: rs, index } = &self.nodes[*rb].layer else {
            return None;
        };
        let Layer::Unary {
            src: var,
            f: crate::unary::UnaryFn::Rsqrt,
        } = &self.nodes[*rs].layer
        else {
            return None;
        };
        let (_, centered, rows) = self.layer_norm_var(*var)?;
        if centered != *cen || index.iter().any(|&g| g >= rows.len()) {
            return None;
        }
        // The broadcast must give each element its own row's statistic.
        for (g, members) in rows.iter().enumerate() {
            if members.iter().any(|&j| index.get(j) != Some(&g)) {
                return None;
            }
        }
        if rows.iter().map(Vec::len).sum::<usize>() != index.len() {
            return None;
        }
        Some(index.iter().map(|&g| rows[g].len()).collect())
    }

    /// Where layer `i` is layer norm's `mean(c^2) + eps` (the `var_eps` step of `lower.rs`) with
    /// `c` each row of layer `x` minus the row's mean: `x`, the centering layer and the rows
    /// (flat indices of `x`, one list per output element). Checked on the coefficients, not on
    /// the names.
    pub fn layer_norm_var(&self, i: usize) -> Option<(usize, usize, Vec<Vec<usize>>)> {
        let Layer::Affine {
            src: sq,
            w: wv,
            b: eps,
            ..
        } = &self.nodes[i].layer
        else {
            return None;
        };
        let Layer::Unary {
            src: cen,
            f: crate::unary::UnaryFn::Square,
        } = &self.nodes[*sq].layer
        else {
            return None;
        };
        let Layer::Affine {
            w: wc,
            b: bc,
            src: x,
            ..
        } = &self.nodes[*cen].layer
        else {
            return None;
        };
        let n = self.nodes[*x].size;
        if wc.nrows() != n || wc.ncols() != n || wv.ncols() != n {
            return None;
        }
        if bc.iter().any(|&v| v != 0.0) || eps.iter().any(|&v| !(v >= 0.0)) {
            return None;
        }
        let close = |v: f64, want: f64| (v - want).abs() <= 1e-12 * want.abs().max(1.0);
        let mut rows = Vec::with_capacity(wv.nrows());
        let mut seen = vec![false; n];
        for vrow in wv.outer_iter() {
            let members: Vec<usize> = (0..n).filter(|&j| vrow[j] != 0.0).collect();
            let d = members.len();
            if d == 0 {
                return None;
            }
            let inv = 1.0 / d as f64;
            if members
                .iter()
                .any(|&j| !close(vrow[j], inv) || std::mem::replace(&mut seen[j], true))
            {
                return None;
            }
            // Each member minus the row's mean, reading only the row.
            for &j in &members {
                let crow = wc.row(j);
                if crow.iter().filter(|&&v| v != 0.0).count() > d {
                    return None;
                }
                for &t in &members {
                    let want = if t == j { 1.0 - inv } else { -inv };
                    if !close(crow[t], want) {
                        return None;
                    }
                }
            }
            rows.push(members);
        }
        Some((*x, *cen, rows))
    }

    /// Layers whose value the output depends on (others are skipped by every pass).
    pub fn live(&self) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        live[self.output] = true;
        for i in (0..self.nodes.len()).rev() {
            if live[i] {
                for p in self.nodes[i].layer.parents() {
                    live[p] = true;
                }
            }
        }
        live
    }
}
