//! 2-D transposed convolution (PyTorch `ConvTranspose2d`, ONNX `ConvTranspose`): each input
//! element scatters its weight-scaled kernel taps into the output. One tap walk drives the forward
//! kernel and both backward products, so they are transposes of each other by construction.

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

const OP: &str = "conv_transpose2d";

/// Stride, padding (cropped from both ends of the full output), output padding (added at the
/// end), dilation and groups, per spatial axis (H, W).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

/// The extents a transposed convolution works over.
#[derive(Debug, Clone, Copy)]
struct Dims {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o_per_group: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
}

impl Dims {
    fn out_shape(&self, groups: usize) -> [usize; 4] {
        [self.n, self.o_per_group * groups, self.oh, self.ow]
    }
}

fn dims(x: &[usize], w: &[usize], p: &ConvTranspose2dParams) -> KernelResult<Dims> {
    let bad = |m: String| Err(KernelError::shape(OP, m));
    if x.len() != 4 || w.len() != 4 {
        return bad(format!(
            "needs x [N, C, H, W] and weight [C, O/groups, KH, KW], got {x:?} and {w:?}"
        ));
    }
    if p.groups == 0 || x[1] % p.groups != 0 || w[0] != x[1] {
        return bad(format!(
            "input {x:?} and weight {w:?} do not fit groups {}",
            p.groups
        ));
    }
    if p.stride.contains(&0) || p.dilation.contains(&0) {
        return bad("stride and dilation must be >= 1".into());
    }
    let mut out = [0; 2];
    for i in 0..2 {
        let (n, k) = (x[2 + i], w[2 + i]);
        if p.output_padding[i] >= p.stride[i].max(p.dilation[i]) {
            return bad(format!(
                "output_padding {:?} must be below stride or dilation",
                p.output_padding
            ));
        }
        let full = n.saturating_sub(1) * p.stride[i]
            + p.dilation[i] * k.saturating_sub(1)
            + p.output_padding[i]
            + 1;
        if n == 0 || k == 0 || full <= 2 * p.padding[i] {
            return bad(format!(
                "input {x:?} with weight {w:?} and padding {:?} leaves no output",
                p.padding
            ));
        }
        out[i] = full - 2 * p.padding[i];
    }
    Ok(Dims {
        n: x[0],
        c: x[1],
        h: x[2],
        w: x[3],
        o_per_group: w[1],
        kh: w[2],
        kw: w[3],
        oh: out[0],
        ow: out[1],
    })
}

/// Calls `tap(x_flat, w_flat, out_flat)` for every product the transposed convolution sums:
/// output `[n, o, ih s - p + kh d, iw s - p + kw d]` gets `x[n, c, ih, iw] * w[c, oc, kh, kw]`.
fn for_each_tap(d: &Dims, p: &ConvTranspose2dParams, mut tap: impl FnMut(usize, usize, usize)) {
    let c_per_group = d.c / p.groups;
    for n in 0..d.n {
        for c in 0..d.c {
            let group = c / c_per_group;
            for ih in 0..d.h {
                for iw in 0..d.w {
                    let xi = ((n * d.c + c) * d.h + ih) * d.w + iw;
                    for oc in 0..d.o_per_group {
                        let o = group * d.o_per_group + oc;
                        let out_plane = (n * d.o_per_group * p.groups + o) * d.oh;
                        for kh in 0..d.kh {
                            let oh = (ih * p.stride[0] + kh * p.dilation[0]) as isize
                                - p.padding[0] as isize;
                            if oh < 0 || oh as usize >= d.oh {
                                continue;
                            }
                            for kw in 0..d.kw {
                                let ow = (iw * p.stride[1] + kw * p.dilation[1]) as isize
                                    - p.padding[1] as isize;
                                if ow < 0 || ow as usize >= d.ow {
                                    continue;
                                }
                                let wi = ((c * d.o_per_group + oc) * d.kh + kh) * d.kw + kw;
                                tap(xi, wi, (out_plane + oh as usize) * d.ow + ow as usize);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn contiguous<T: Clone>(a: &ArrayViewD<T>) -> Vec<T> {
    a.as_standard_layout().iter().cloned().collect()
}

/// `x [N, C, H, W]` transposed-convolved with `weight [C, O/groups, KH, KW]` (+ `bias [O]`).
pub fn conv_transpose2d<T: Real>(
    x: ArrayViewD<T>,
    weight: ArrayViewD<T>,
    bias: Option<ArrayViewD<T>>,
    p: &ConvTranspose2dParams,
) -> KernelResult<ArrayD<T>> {
    let d = dims(x.shape(), weight.shape(), p)?;
    let shape = d.out_shape(p.groups);
    crate::tensor::checked_numel(OP, &shape)?;
    let (xs, ws) = (contiguous(&x), contiguous(&weight));
    let mut out = vec![T::zero(); shape.iter().product()];
    for_each_tap(&d, p, |xi, wi, oi| out[oi] = out[oi] + xs[xi] * ws[wi]);
    if let Some(b) = bias {
        if b.shape() != [shape[1]] {
            return Err(KernelError::shape(
                OP,
                format!("bias {:?} is not [{}]", b.shape(), shape[1]),
            ));
        }
        let bs = contiguous(&b);
        let plane = d.oh * d.ow;
        for (i, v) in out.iter_mut().enumerate() {
            *v = *v + bs[(i / plane) % shape[1]];
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| KernelError::shape(OP, e.to_string()))
}

/// The gradients of `conv_transpose2d` for x, weight and (when it has one) bias, given the output
/// gradient `g`.
pub fn conv_transpose2d_backward(
    x: ArrayViewD<f64>,
    weight: ArrayViewD<f64>,
    g: ArrayViewD<f64>,
    bias: bool,
    p: &ConvTranspose2dParams,
) -> KernelResult<(ArrayD<f64>, ArrayD<f64>, Option<ArrayD<f64>>)> {
    let d = dims(x.shape(), weight.shape(), p)?;
    let shape = d.out_shape(p.groups);
    if g.shape() != shape {
        return Err(KernelError::shape(
            OP,
            format!("gradient {:?} is not the output {shape:?}", g.shape()),
        ));
    }
    let (xs, ws, gs) = (contiguous(&x), contiguous(&weight), contiguous(&g));
    let mut dx = vec![0.0; xs.len()];
    let mut dw = vec![0.0; ws.len()];
    for_each_tap(&d, p, |xi, wi, oi| {
        dx[xi] += gs[oi] * ws[wi];
        dw[wi] += gs[oi] * xs[xi];
    });
    let db = bias.then(|| {
        let plane = d.oh * d.ow;
        let mut db = vec![0.0; shape[1]];
        for (i, v) in gs.iter().enumerate() {
            db[(i / plane) % shape[1]] += v;
        }
        ArrayD::from_shape_vec(IxDyn(&[shape[1]]), db).expect("[O]")
    });
    let shaped = |v: Vec<f64>, s: &[usize]| {
        ArrayD::from_shape_vec(IxDyn(s), v).map_err(|e| KernelError::shape(OP, e.to_string()))
    };
    Ok((shaped(dx, x.shape())?, shaped(dw, weight.shape())?, db))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        stride: usize,
        padding: usize,
        output_padding: usize,
        groups: usize,
    ) -> ConvTranspose2dParams {
        ConvTranspose2dParams {
            stride: [stride; 2],
            padding: [padding; 2],
            output_padding: [output_padding; 2],
            dilation: [1; 2],
            groups,
        }
    }

    #[test]
    fn is_the_adjoint_of_conv2d() {
        // <conv2d(y, w), x> == <y, conv_transpose2d(x, w)> for conv2d with the same stride,
        // padding and groups (weight [O, C/g, K, K] read as [C_t = O, O_t/g, K, K]).
        let p = params(2, 1, 1, 2);
        let y = ArrayD::from_shape_fn(IxDyn(&[1, 4, 8, 8]), |i| {
            ((i[1] * 64 + i[2] * 8 + i[3]) % 11) as f64 - 5.0
        });
        let w = ArrayD::from_shape_fn(IxDyn(&[6, 2, 3, 3]), |i| {
            ((i[0] * 18 + i[1] * 9 + i[2] * 3 + i[3]) % 7) as f64 * 0.25 - 0.7
        });
        let conv = crate::cpu::conv2d(
            y.view(),
            w.view(),
            None,
            &crate::cpu::Conv2dParams::symmetric([2, 2], [1, 1], [1, 1], 2),
        )
        .unwrap();
        assert_eq!(conv.shape(), &[1, 6, 4, 4]);
        let x = ArrayD::from_shape_fn(IxDyn(conv.shape()), |i| {
            ((i[1] * 16 + i[2] * 4 + i[3]) % 5) as f64 - 2.0
        });
        let t = conv_transpose2d(x.view(), w.view(), None, &p).unwrap();
        assert_eq!(
            t.shape(),
            y.shape(),
            "output_padding 1 restores the 8x8 extent"
        );
        let lhs = (&conv * &x).sum();
        let rhs = (&t * &y).sum();
        assert!((lhs - rhs).abs() < 1e-9, "{lhs} vs {rhs}");
    }

    #[test]
    fn mismatched_weights_are_coded_errors() {
        let x = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 4, 4]));
        let w = ArrayD::<f32>::zeros(IxDyn(&[4, 2, 3, 3]));
        let e = conv_transpose2d(x.view(), w.view(), None, &params(1, 0, 0, 1)).unwrap_err();
        assert_eq!(e.code(), "TL0501");
        let w = ArrayD::<f32>::zeros(IxDyn(&[3, 2, 3, 3]));
        assert!(conv_transpose2d(x.view(), w.view(), None, &params(1, 0, 1, 1)).is_err());
        assert!(conv_transpose2d(x.view(), w.view(), None, &params(1, 3, 0, 1)).is_err());
    }
}
