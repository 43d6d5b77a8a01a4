//! alpha-CROWN: the lower slopes of unstable relu neurons are free in [alpha_min, 1]; every
//! choice gives a sound bound, so they are optimised per spec row by projected Adam ascent and
//! the best bound seen per row is kept (never looser than CROWN, which is the starting point).
//!
//! The gradient comes from the adjoint of the backward pass: d(lower bound)/d(A at a layer) is
//! the network evaluated forward with each neuron replaced by the relaxation line the backward
//! pass chose for that row, starting from the box corner that minimises the final linear bound.

use ndarray::{Array2, Zip};

use crate::crown::{Alphas, Analysis, LinearBound};
use crate::net::{ConcatPart, Layer};
use crate::relax::Act;

/// Optimised lower bounds of `c y` (rows independent).
pub fn optimize(an: &Analysis, c: &Array2<f64>, iters: usize, lr: f64) -> LinearBound {
    optimize_with_alphas(an, c, iters, lr).0
}

/// Like [`optimize`], also returning the slopes that gave each row its best bound (any slopes in
/// range give a sound bound, so a certificate can carry them and a checker recompute the bound).
pub fn optimize_with_alphas(
    an: &Analysis,
    c: &Array2<f64>,
    iters: usize,
    lr: f64,
) -> (LinearBound, Alphas) {
    let net = an.net;
    let rows = c.nrows();
    let mut alphas: Alphas = Alphas::new();
    let mut floor = std::collections::HashMap::new();
    for (i, node) in net.nodes.iter().enumerate() {
        let act = match node.layer {
            Layer::Relu { .. } => Act::Relu,
            Layer::LeakyRelu { alpha, .. } => Act::LeakyRelu(alpha),
            _ => continue,
        };
        if let Some(rl) = &an.relax[i] {
            if rl.unstable.iter().any(|&u| u) {
                let init = rl
                    .lo_s
                    .broadcast((rows, rl.lo_s.len()))
                    .expect("row broadcast");
                alphas.insert(i, init.to_owned());
                floor.insert(i, act.alpha_min());
            }
        }
    }
    let mut best = an.spec_lower(c, None);
    let mut best_alphas = alphas.clone();
    if alphas.is_empty() || iters == 0 {
        return (best, best_alphas);
    }
    let mut m1: Alphas = alphas
        .iter()
        .map(|(k, v)| (*k, Array2::zeros(v.raw_dim())))
        .collect();
    let mut m2 = m1.clone();
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    for t in 1..=iters + 1 {
        let lb = an.spec_lower(c, Some(&alphas));
        for r in 0..rows {
            if lb.lower[r] > best.lower[r] {
                best.lower[r] = lb.lower[r];
                best.bias[r] = lb.bias[r];
                best.a_in.row_mut(r).assign(&lb.a_in.row(r));
                for (k, a) in &alphas {
                    best_alphas
                        .get_mut(k)
                        .expect("same layers")
                        .row_mut(r)
                        .assign(&a.row(r));
                }
            }
        }
        // A stop keeps the best slopes so far (every choice is sound).
        if t > iters || an.stop.stopped() {
            break;
        }
        let grads = gradients(an, &lb, &alphas);
        for (k, g) in grads {
            let a = alphas.get_mut(&k).expect("alpha layer");
            let (m, v) = (m1.get_mut(&k).unwrap(), m2.get_mut(&k).unwrap());
            let lo = floor[&k];
            let (c1, c2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
            Zip::from(a).and(m).and(v).and(&g).for_each(|a, m, v, &g| {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let step = lr * (*m / c1) / ((*v / c2).sqrt() + eps);
                *a = (*a + step).clamp(lo, 1.0);
            });
        }
    }
    (best, best_alphas)
}

/// d(sum of row lower bounds)/d(alpha) for each alpha layer, by the forward adjoint sweep.
fn gradients(an: &Analysis, lb: &LinearBound, alphas: &Alphas) -> Vec<(usize, Array2<f64>)> {
    let net = an.net;
    let rows = lb.a_in.nrows();
    let live = net.live();
    let mut g: Vec<Array2<f64>> = Vec::with_capacity(net.nodes.len());
    let mut out = Vec::new();
    let (l, u) = (&an.input.lower, &an.input.upper);
    for (i, node) in net.nodes.iter().enumerate() {
        if !live[i] || i > net.output {
            g.push(Array2::zeros((0, 0)));
            continue;
        }
        let v =
            match &node.layer {
                Layer::Input => Array2::from_shape_fn((rows, l.len()), |(r, j)| {
                    if lb.a_in[[r, j]] >= 0.0 {
                        l[j]
                    } else {
                        u[j]
                    }
                }),
                Layer::Affine { src, w, b, .. } => g[*src].dot(&w.t()) + b,
                Layer::Scale {
                    src, scale, shift, ..
                } => &g[*src] * scale + shift,
                Layer::Add { a, b } => &g[*a] + &g[*b],
                Layer::Sub { a, b } => &g[*a] - &g[*b],
                Layer::Gather { src, index } => {
                    Array2::from_shape_fn((rows, index.len()), |(r, j)| g[*src][[r, index[j]]])
                }
                Layer::Concat { parts } => {
                    let mut v = Array2::zeros((rows, node.size));
                    let mut off = 0;
                    for p in parts {
                        let n = p.size(&net.nodes);
                        let mut dst = v.slice_mut(ndarray::s![.., off..off + n]);
                        match p {
                            ConcatPart::Layer(k) => dst.assign(&g[*k]),
                            ConcatPart::Const(c) => dst.assign(c),
                        }
                        off += n;
                    }
                    v
                }
                Layer::Mul { a: pa, b: pb } => {
                    // The McCormick plane the backward pass chose, at the planes' operand points.
                    let a = &lb.relu_a[&i];
                    let (la, lo_b, up_b) = (&an.lower[*pa], &an.lower[*pb], &an.upper[*pb]);
                    let (ga, gb) = (&g[*pa], &g[*pb]);
                    Array2::from_shape_fn((rows, la.len()), |(r, j)| {
                        let bk = if a[[r, j]] >= 0.0 { lo_b[j] } else { up_b[j] };
                        bk * ga[[r, j]] + la[j] * gb[[r, j]] - la[j] * bk
                    })
                }
                Layer::Softmax { .. } => {
                    let a = &lb.relu_a[&i];
                    let (l, u) = (&an.lower[i], &an.upper[i]);
                    Array2::from_shape_fn((rows, l.len()), |(r, j)| {
                        if a[[r, j]] >= 0.0 {
                            l[j]
                        } else {
                            u[j]
                        }
                    })
                }
                Layer::Relu { src }
                | Layer::LeakyRelu { src, .. }
                | Layer::Sigmoid { src }
                | Layer::Tanh { src }
                | Layer::Unary { src, .. } => {
                    let rl = an.relax[i].as_ref().expect("relaxed");
                    let a = &lb.relu_a[&i];
                    let al = alphas.get(&i);
                    let gs = &g[*src];
                    let mut grad = al.map(|x| Array2::zeros(x.raw_dim()));
                    let v = Array2::from_shape_fn((rows, rl.lo_s.len()), |(r, j)| {
                        if a[[r, j]] >= 0.0 {
                            let slope = match al {
                                Some(al) if rl.unstable[j] => al[[r, j]],
                                _ => rl.lo_s[j],
                            };
                            slope * gs[[r, j]] + rl.lo_b[j]
                        } else {
                            rl.up_s[j] * gs[[r, j]] + rl.up_b[j]
                        }
                    });
                    if let Some(grad) = grad.as_mut() {
                        for r in 0..rows {
                            for j in 0..rl.lo_s.len() {
                                if rl.unstable[j] && a[[r, j]] > 0.0 {
                                    grad[[r, j]] = a[[r, j]] * gs[[r, j]];
                                }
                            }
                        }
                    }
                    if let Some(grad) = grad {
                        out.push((i, grad));
                    }
                    v
                }
                Layer::MaxPool { src, windows } => {
                    // Not optimised; the adjoint only has to pass through it. Using the upper
                    // bound of each window keeps the gradient an ascent direction heuristic.
                    let (ls, us) = (&an.lower[*src], &an.upper[*src]);
                    Array2::from_shape_fn((rows, windows.len()), |(r, j)| {
                        let k = *windows[j]
                            .iter()
                            .max_by(|&&p, &&q| ls[p].total_cmp(&ls[q]))
                            .expect("non-empty");
                        let _ = us;
                        g[*src][[r, k]]
                    })
                }
            };
        g.push(v);
    }
    out
}
