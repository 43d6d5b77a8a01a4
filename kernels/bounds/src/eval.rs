//! Concrete execution of a [`BoundNet`] in f64 or f32: confirms counterexamples, drives attacks,
//! and checks in tests that bounds contain real executions.

use crate::net::{BoundNet, ConcatPart, Layer};

/// The float types the evaluator runs in.
pub trait Real: Copy + PartialOrd + std::fmt::Debug + Send + Sync + 'static {
    fn of(x: f64) -> Self;
    fn f64(self) -> f64;
    fn zero() -> Self;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn sigmoid(self) -> Self;
    fn tanh(self) -> Self;
    fn unary(self, f: crate::unary::UnaryFn) -> Self;
    fn exp(self) -> Self;
    fn div(self, o: Self) -> Self;
}

impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn f64(self) -> f64 {
        self
    }
    fn zero() -> Self {
        0.0
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn unary(self, f: crate::unary::UnaryFn) -> Self {
        f.eval::<f64>(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn div(self, o: Self) -> Self {
        self / o
    }
}

impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
    fn zero() -> Self {
        0.0
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
    fn tanh(self) -> Self {
        f32::tanh(self)
    }
    fn unary(self, f: crate::unary::UnaryFn) -> Self {
        f.eval::<f32>(self)
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn div(self, o: Self) -> Self {
        self / o
    }
}

/// Runs the network on `x` in the float type `T` (weights rounded to `T`), returning every layer's
/// value. Layers the output does not depend on are left empty.
pub fn eval_all<T: Real>(net: &BoundNet, x: &[f64]) -> Vec<Vec<T>> {
    let live = net.live();
    let mut vals: Vec<Vec<T>> = Vec::with_capacity(net.nodes.len());
    for (i, node) in net.nodes.iter().enumerate() {
        if !live[i] {
            vals.push(Vec::new());
            continue;
        }
        let v: Vec<T> = match &node.layer {
            Layer::Input => x.iter().map(|&v| T::of(v)).collect(),
            Layer::Affine { src, w, b, .. } => {
                let xs = &vals[*src];
                (0..w.nrows())
                    .map(|r| {
                        let row = w.row(r);
                        let mut acc = T::zero();
                        for (c, &wv) in row.iter().enumerate() {
                            if wv != 0.0 {
                                acc = acc.add(T::of(wv).mul(xs[c]));
                            }
                        }
                        acc.add(T::of(b[r]))
                    })
                    .collect()
            }
            Layer::Scale {
                src, scale, shift, ..
            } => vals[*src]
                .iter()
                .enumerate()
                .map(|(j, &v)| v.mul(T::of(scale[j])).add(T::of(shift[j])))
                .collect(),
            Layer::Add { a, b } => vals[*a]
                .iter()
                .zip(&vals[*b])
                .map(|(&p, &q)| p.add(q))
                .collect(),
            Layer::Sub { a, b } => vals[*a]
                .iter()
                .zip(&vals[*b])
                .map(|(&p, &q)| p.add(q.mul(T::of(-1.0))))
                .collect(),
            Layer::Gather { src, index } => index.iter().map(|&j| vals[*src][j]).collect(),
            Layer::Concat { parts } => {
                let mut v = Vec::with_capacity(node.size);
                for p in parts {
                    match p {
                        ConcatPart::Layer(k) => v.extend_from_slice(&vals[*k]),
                        ConcatPart::Const(c) => v.extend(c.iter().map(|&x| T::of(x))),
                    }
                }
                v
            }
            Layer::Relu { src } => vals[*src]
                .iter()
                .map(|&v| if v > T::zero() { v } else { T::zero() })
                .collect(),
            Layer::LeakyRelu { src, alpha } => vals[*src]
                .iter()
                .map(|&v| {
                    if v >= T::zero() {
                        v
                    } else {
                        v.mul(T::of(*alpha))
                    }
                })
                .collect(),
            Layer::Sigmoid { src } => vals[*src].iter().map(|&v| v.sigmoid()).collect(),
            Layer::Unary { src, f } => vals[*src].iter().map(|&v| v.unary(*f)).collect(),
            Layer::Mul { a, b } => vals[*a]
                .iter()
                .zip(&vals[*b])
                .map(|(&p, &q)| p.mul(q))
                .collect(),
            Layer::Softmax { src, groups } => {
                // As cpu/reduce.rs: exp(x - max) / sum.
                let x = &vals[*src];
                let mut y = vec![T::zero(); x.len()];
                for g in groups {
                    let m = g
                        .iter()
                        .map(|&j| x[j])
                        .fold(x[g[0]], |a, v| if v > a { v } else { a });
                    for &j in g {
                        y[j] = x[j].add(m.mul(T::of(-1.0))).exp();
                    }
                    let s = g.iter().fold(T::zero(), |a, &j| a.add(y[j]));
                    for &j in g {
                        y[j] = y[j].div(s);
                    }
                }
                y
            }
            Layer::Tanh { src } => vals[*src].iter().map(|&v| v.tanh()).collect(),
            Layer::MaxPool { src, windows } => windows
                .iter()
                .map(|w| {
                    let mut m = vals[*src][w[0]];
                    for &j in &w[1..] {
                        if vals[*src][j] > m {
                            m = vals[*src][j];
                        }
                    }
                    m
                })
                .collect(),
        };
        vals.push(v);
    }
    vals
}

/// The output of the network on `x`, computed in `T` and widened to f64.
pub fn eval<T: Real>(net: &BoundNet, x: &[f64]) -> Vec<f64> {
    let mut all = eval_all::<T>(net, x);
    all.swap_remove(net.output)
        .into_iter()
        .map(T::f64)
        .collect()
}

/// Gradient of `sum_k weights[k] * y[k]` with respect to the input, at `x` (f64; relu's
/// derivative at 0 is taken as 0, max-pool's goes to the first maximum). Drives the PGD attack.
pub fn input_gradient(net: &BoundNet, x: &[f64], weights: &[f64]) -> Vec<f64> {
    let vals = eval_all::<f64>(net, x);
    let mut grads: Vec<Vec<f64>> = net.nodes.iter().map(|n| vec![0.0; n.size]).collect();
    grads[net.output].copy_from_slice(weights);
    for i in (1..net.nodes.len()).rev() {
        if vals[i].is_empty() {
            continue;
        }
        let g = std::mem::take(&mut grads[i]);
        match &net.nodes[i].layer {
            Layer::Input => {}
            Layer::Affine { src, w, .. } => {
                let gs = &mut grads[*src];
                for (r, &gr) in g.iter().enumerate() {
                    if gr != 0.0 {
                        for (c, &wv) in w.row(r).iter().enumerate() {
                            gs[c] += gr * wv;
                        }
                    }
                }
            }
            Layer::Scale { src, scale, .. } => {
                for (j, &gj) in g.iter().enumerate() {
                    grads[*src][j] += gj * scale[j];
                }
            }
            Layer::Add { a, b } | Layer::Sub { a, b } => {
                let sign = if matches!(net.nodes[i].layer, Layer::Sub { .. }) {
                    -1.0
                } else {
                    1.0
                };
                for (j, &gj) in g.iter().enumerate() {
                    grads[*a][j] += gj;
                    grads[*b][j] += sign * gj;
                }
            }
            Layer::Gather { src, index } => {
                for (j, &gj) in g.iter().enumerate() {
                    grads[*src][index[j]] += gj;
                }
            }
            Layer::Concat { parts } => {
                let mut off = 0;
                for p in parts {
                    let n = p.size(&net.nodes);
                    if let ConcatPart::Layer(k) = p {
                        for (d, &gj) in grads[*k].iter_mut().zip(&g[off..off + n]) {
                            *d += gj;
                        }
                    }
                    off += n;
                }
            }
            Layer::Relu { src } => {
                for (j, &gj) in g.iter().enumerate() {
                    if vals[*src][j] > 0.0 {
                        grads[*src][j] += gj;
                    }
                }
            }
            Layer::LeakyRelu { src, alpha } => {
                for (j, &gj) in g.iter().enumerate() {
                    grads[*src][j] += if vals[*src][j] >= 0.0 { gj } else { gj * alpha };
                }
            }
            Layer::Sigmoid { .. } | Layer::Tanh { .. } => {
                let src = net.nodes[i].layer.parents()[0];
                let tanh = matches!(net.nodes[i].layer, Layer::Tanh { .. });
                for (j, &gj) in g.iter().enumerate() {
                    let y = vals[i][j];
                    let d = if tanh { 1.0 - y * y } else { y * (1.0 - y) };
                    grads[src][j] += gj * d;
                }
            }
            Layer::Unary { src, f } => {
                for (j, &gj) in g.iter().enumerate() {
                    // A central difference: the gradient only steers the attack.
                    let x = vals[*src][j];
                    let h = 1e-6 * (1.0 + x.abs());
                    let d = (f.f(x + h) - f.f(x - h)) / (2.0 * h);
                    if d.is_finite() {
                        grads[*src][j] += gj * d;
                    }
                }
            }
            Layer::Mul { a, b } => {
                for (j, &gj) in g.iter().enumerate() {
                    let (p, q) = (vals[*a][j], vals[*b][j]);
                    grads[*a][j] += gj * q;
                    grads[*b][j] += gj * p;
                }
            }
            Layer::Softmax { src, groups } => {
                let y = &vals[i];
                for grp in groups {
                    let dot: f64 = grp.iter().map(|&k| g[k] * y[k]).sum();
                    for &j in grp {
                        grads[*src][j] += y[j] * (g[j] - dot);
                    }
                }
            }
            Layer::MaxPool { src, windows } => {
                for (j, &gj) in g.iter().enumerate() {
                    let arg = windows[j].iter().copied().fold(windows[j][0], |best, k| {
                        if vals[*src][k] > vals[*src][best] {
                            k
                        } else {
                            best
                        }
                    });
                    grads[*src][arg] += gj;
                }
            }
        }
    }
    std::mem::take(&mut grads[0])
}
