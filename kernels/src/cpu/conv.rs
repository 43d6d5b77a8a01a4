//! Convolution, NCHW (2-D) and NCL (1-D), with stride, padding (begin/end per side), dilation and
//! groups, as im2col followed by one GEMM per (image, group).

use crate::cpu::gemm::{gemm_packed_strided_into, Epilogue, MatrixStrides, PackedMatrix};
use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use crate::tensor::checked_numel;
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, Array4, ArrayD, ArrayViewD, Axis, Ix1, Ix4};

/// Parameters of a 2-D convolution. `padding[d] = [begin, end]` for spatial dim `d` (H, then W).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [[usize; 2]; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: [[0, 0], [0, 0]],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl Conv2dParams {
    /// PyTorch-style symmetric padding.
    pub fn symmetric(
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Self {
        Conv2dParams {
            stride,
            padding: [[padding[0], padding[0]], [padding[1], padding[1]]],
            dilation,
            groups,
        }
    }
}

/// Parameters of a 1-D convolution; `padding = [begin, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv1dParams {
    pub stride: usize,
    pub padding: [usize; 2],
    pub dilation: usize,
    pub groups: usize,
}

impl Default for Conv1dParams {
    fn default() -> Self {
        Conv1dParams {
            stride: 1,
            padding: [0, 0],
            dilation: 1,
            groups: 1,
        }
    }
}

/// The output length of one spatial dim of a convolution.
pub(crate) fn conv_out_size(
    op: &'static str,
    input: usize,
    kernel: usize,
    stride: usize,
    pad: [usize; 2],
    dilation: usize,
) -> KernelResult<usize> {
    let span = input + pad[0] + pad[1];
    let reach = dilation * (kernel - 1) + 1;
    if span < reach {
        return Err(KernelError::shape(
            op,
            format!("padded input size {span} is smaller than the dilated kernel size {reach}"),
        ));
    }
    Ok((span - reach) / stride + 1)
}

/// 2-D convolution: `x: [N, C, H, W]`, `w: [O, C/groups, kh, kw]`, `b: [O]` -> `[N, O, Ho, Wo]`.
pub fn conv2d<T: Real>(
    x: ArrayViewD<T>,
    w: ArrayViewD<T>,
    b: Option<ArrayViewD<T>>,
    p: &Conv2dParams,
) -> KernelResult<ArrayD<T>> {
    conv2d_named("conv2d", x, w, b, p)
}

fn conv2d_named<T: Real>(
    op: &'static str,
    x: ArrayViewD<T>,
    w: ArrayViewD<T>,
    b: Option<ArrayViewD<T>>,
    p: &Conv2dParams,
) -> KernelResult<ArrayD<T>> {
    let x = x.into_dimensionality::<Ix4>().map_err(|_| {
        KernelError::shape(op, "input must be [N, C, H, W] (or [N, C, L] for conv1d)")
    })?;
    let w = w.into_dimensionality::<Ix4>().map_err(|_| {
        KernelError::shape(
            op,
            "weight must be [O, C/groups, kh, kw] (or [O, C/groups, k])",
        )
    })?;
    if p.groups == 0 || p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(KernelError::argument(
            op,
            "stride, dilation and groups must be >= 1",
        ));
    }
    let (n, c, h, wd) = x.dim();
    let (o, cg, kh, kw) = w.dim();
    let g = p.groups;
    if cg * g != c || o % g != 0 {
        return Err(KernelError::shape(
            op,
            format!(
                "input has {c} channels and weight is {:?}: need C = C/groups * groups ({g}) and O divisible by groups",
                w.shape()
            ),
        ));
    }
    if kh == 0 || kw == 0 {
        return Err(KernelError::shape(op, "kernel dims must be >= 1"));
    }
    let bias = b
        .map(|b| {
            b.into_dimensionality::<Ix1>()
                .ok()
                .filter(|b| b.len() == o)
                .ok_or_else(|| KernelError::shape(op, format!("bias must be [{o}]")))
        })
        .transpose()?;
    let ho = conv_out_size(op, h, kh, p.stride[0], p.padding[0], p.dilation[0])?;
    let wo = conv_out_size(op, wd, kw, p.stride[1], p.padding[1], p.dilation[1])?;
    checked_numel(op, &[n, o, ho, wo])?;
    checked_numel(op, &[cg, kh, kw, ho, wo])?;

    let og = o / g;
    let patch = cg * kh * kw;
    let w_std = w.as_standard_layout();
    let w_mat = w_std
        .view()
        .into_shape_with_order((o, patch))
        .map_err(|e| KernelError::shape(op, e.to_string()))?;
    let mut out = Array4::<T>::zeros((n, o, ho, wo));
    if let Some(bias) = bias {
        for (oc, &bv) in bias.iter().enumerate() {
            out.slice_mut(s![.., oc, .., ..]).fill(bv);
        }
    }
    let beta = if bias.is_some() { T::one() } else { T::zero() };
    let mut cols = Array2::<T>::zeros((patch, ho * wo));
    for img in 0..n {
        for grp in 0..g {
            fill_columns(&x, img, grp * cg, cg, [kh, kw], [ho, wo], p, &mut cols);
            let w_g = w_mat.slice(s![grp * og..(grp + 1) * og, ..]);
            let out_g = out.slice_mut(s![img, grp * og..(grp + 1) * og, .., ..]);
            let mut out_g = out_g
                .into_shape_with_order((og, ho * wo))
                .map_err(|e| KernelError::shape(op, e.to_string()))?;
            general_mat_mul(T::one(), &w_g, &cols, beta, &mut out_g);
        }
    }
    Ok(out.into_dyn())
}

/// A 2-D convolution (groups = 1) with its weight packed for [`gemm_packed_into`]: each image
/// is unfolded into a reused scratch buffer (one row per output position, im2col) and multiplied
/// by the packed `W^T`, writing the channel planes directly (column stride `Ho * Wo`), with the
/// bias and an optional relu in the GEMM epilogue.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedConv2d {
    weight: PackedMatrix,
    in_channels: usize,
    kernel: [usize; 2],
    params: Conv2dParams,
}

impl PackedConv2d {
    /// Packs `w: [O, C, kh, kw]` and `b: [O]`; only `groups = 1` is packed.
    pub fn new(
        w: ArrayViewD<f32>,
        b: Option<ArrayViewD<f32>>,
        params: Conv2dParams,
    ) -> KernelResult<Self> {
        const OP: &str = "conv2d";
        if params.groups != 1 {
            return Err(KernelError::Unsupported {
                backend: "cpu",
                op: OP,
                detail: "packed convolution needs groups = 1".into(),
            });
        }
        let w = w
            .into_dimensionality::<Ix4>()
            .map_err(|_| KernelError::shape(OP, "weight must be [O, C, kh, kw]"))?;
        let (o, c, kh, kw) = w.dim();
        let b = b
            .map(|b| {
                b.into_dimensionality::<Ix1>()
                    .map_err(|_| KernelError::shape(OP, format!("bias must be [{o}]")))
            })
            .transpose()?;
        let w_std = w.as_standard_layout();
        let rows = w_std
            .view()
            .into_shape_with_order((o, c * kh * kw))
            .map_err(|e| KernelError::shape(OP, e.to_string()))?;
        Ok(PackedConv2d {
            weight: PackedMatrix::from_rows(rows, b)?,
            in_channels: c,
            kernel: [kh, kw],
            params,
        })
    }

    /// `[N, O, Ho, Wo]` for an input of shape `[N, C, H, W]`.
    pub fn output_shape(&self, input: &[usize]) -> KernelResult<[usize; 4]> {
        const OP: &str = "conv2d";
        let &[n, c, h, w] = input else {
            return Err(KernelError::shape(OP, "input must be [N, C, H, W]"));
        };
        if c != self.in_channels {
            return Err(KernelError::shape(
                OP,
                format!("input has {c} channels, the weight {}", self.in_channels),
            ));
        }
        let p = &self.params;
        if p.stride.contains(&0) || p.dilation.contains(&0) || self.kernel.contains(&0) {
            return Err(KernelError::argument(
                OP,
                "stride, dilation and kernel must be >= 1",
            ));
        }
        let ho = conv_out_size(
            OP,
            h,
            self.kernel[0],
            p.stride[0],
            p.padding[0],
            p.dilation[0],
        )?;
        let wo = conv_out_size(
            OP,
            w,
            self.kernel[1],
            p.stride[1],
            p.padding[1],
            p.dilation[1],
        )?;
        let shape = [n, self.weight.n(), ho, wo];
        checked_numel(OP, &shape)?;
        Ok(shape)
    }

    /// Scratch values [`PackedConv2d::run_into`] needs for an input of shape `input`.
    pub fn scratch_len(&self, input: &[usize]) -> KernelResult<usize> {
        let [_, _, ho, wo] = self.output_shape(input)?;
        checked_numel("conv2d", &[ho, wo, self.weight.k()])
    }

    /// Convolves `x: [N, C, H, W]` (standard layout) into `out: [N, O, Ho, Wo]`; `scratch` holds
    /// at least [`PackedConv2d::scratch_len`] values. Allocation-free.
    pub fn run_into(
        &self,
        x: &[f32],
        shape: &[usize],
        epilogue: Epilogue,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> KernelResult<()> {
        const OP: &str = "conv2d";
        let [n, o, ho, wo] = self.output_shape(shape)?;
        let (c, h, w) = (shape[1], shape[2], shape[3]);
        let (plane_in, plane_out, patch) = (c * h * w, ho * wo, self.weight.k());
        if x.len() != n * plane_in || out.len() != n * o * plane_out {
            return Err(KernelError::shape(
                OP,
                format!(
                    "buffers hold {} input and {} output values for {shape:?} -> [{n}, {o}, {ho}, {wo}]",
                    x.len(),
                    out.len()
                ),
            ));
        }
        let scratch_len = scratch.len();
        let cols = scratch
            .get_mut(..plane_out * patch)
            .ok_or_else(|| KernelError::shape(OP, format!("scratch holds {scratch_len} values")))?;
        for img in 0..n {
            let image = &x[img * plane_in..(img + 1) * plane_in];
            self.unfold(image, [h, w], [ho, wo], cols);
            // A[pos, kidx] = cols[kidx * plane_out + pos]; C[pos, oc] goes to plane oc.
            gemm_packed_strided_into(
                plane_out,
                cols,
                MatrixStrides {
                    row_stride: 1,
                    col_stride: plane_out,
                },
                &self.weight,
                epilogue,
                &mut out[img * o * plane_out..(img + 1) * o * plane_out],
                MatrixStrides {
                    row_stride: 1,
                    col_stride: plane_out,
                },
            )?;
        }
        Ok(())
    }
}

impl PackedConv2d {
    /// k-major im2col of one image: `cols[kidx * Ho * Wo + oh * Wo + ow]` is the input pixel
    /// under tap `kidx = (c, ki, kj)` at output `(oh, ow)`, or 0 in the padding. Each output
    /// row is a zero-padded run of one input row (a plain copy at stride 1).
    fn unfold(&self, image: &[f32], [h, w]: [usize; 2], [ho, wo]: [usize; 2], cols: &mut [f32]) {
        let [kh, kw] = self.kernel;
        let p = &self.params;
        let plane_out = ho * wo;
        for ch in 0..self.in_channels {
            let plane = &image[ch * h * w..(ch + 1) * h * w];
            for ki in 0..kh {
                for kj in 0..kw {
                    let kidx = (ch * kh + ki) * kw + kj;
                    let dst_k = &mut cols[kidx * plane_out..(kidx + 1) * plane_out];
                    // Input column of output column ow: ow * stride + offset.
                    let offset = (kj * p.dilation[1]) as isize - p.padding[1][0] as isize;
                    let (lo, hi) = valid_outputs(offset, p.stride[1], w, wo);
                    for (oh, dst) in dst_k.chunks_exact_mut(wo.max(1)).enumerate() {
                        let ih = (oh * p.stride[0] + ki * p.dilation[0]) as isize
                            - p.padding[0][0] as isize;
                        if ih < 0 || ih >= h as isize || lo >= hi {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[ih as usize * w..(ih as usize + 1) * w];
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        let first = (lo as isize * p.stride[1] as isize + offset) as usize;
                        if p.stride[1] == 1 {
                            dst[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
                        } else {
                            let taps = src[first..].iter().step_by(p.stride[1]);
                            for (d, &v) in dst[lo..hi].iter_mut().zip(taps) {
                                *d = v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The output columns `[lo, hi)` whose input column `o * stride + offset` lies in `0..len`.
fn valid_outputs(offset: isize, stride: usize, len: usize, outputs: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if offset >= 0 {
        0
    } else {
        (-offset + s - 1) / s
    };
    let past = len as isize - offset; // o * s < past
    let hi = if past <= 0 { 0 } else { (past - 1) / s + 1 };
    let lo = (lo as usize).min(outputs);
    (lo, (hi as usize).clamp(lo, outputs))
}

/// im2col: row `(c, ki, kj)` and column `(oh, ow)` hold the input pixel under that kernel tap,
/// or 0 in the padding.
#[allow(clippy::too_many_arguments)]
fn fill_columns<T: Real>(
    x: &ndarray::ArrayView4<T>,
    img: usize,
    c0: usize,
    cg: usize,
    k: [usize; 2],
    out_hw: [usize; 2],
    p: &Conv2dParams,
    cols: &mut Array2<T>,
) {
    let (h, w) = (x.dim().2 as isize, x.dim().3 as isize);
    for c in 0..cg {
        for ki in 0..k[0] {
            for kj in 0..k[1] {
                let row = (c * k[0] + ki) * k[1] + kj;
                let mut dst = cols.index_axis_mut(Axis(0), row);
                for oh in 0..out_hw[0] {
                    let ih =
                        (oh * p.stride[0] + ki * p.dilation[0]) as isize - p.padding[0][0] as isize;
                    for ow in 0..out_hw[1] {
                        let iw = (ow * p.stride[1] + kj * p.dilation[1]) as isize
                            - p.padding[1][0] as isize;
                        dst[oh * out_hw[1] + ow] = if ih >= 0 && ih < h && iw >= 0 && iw < w {
                            x[[img, c0 + c, ih as usize, iw as usize]]
                        } else {
                            T::zero()
                        };
                    }
                }
            }
        }
    }
}

/// 1-D convolution: `x: [N, C, L]`, `w: [O, C/groups, k]`, `b: [O]` -> `[N, O, Lo]`.
pub fn conv1d<T: Real>(
    x: ArrayViewD<T>,
    w: ArrayViewD<T>,
    b: Option<ArrayViewD<T>>,
    p: &Conv1dParams,
) -> KernelResult<ArrayD<T>> {
    const OP: &str = "conv1d";
    if x.ndim() != 3 || w.ndim() != 3 {
        return Err(KernelError::shape(
            OP,
            "input must be [N, C, L] and weight [O, C/groups, k]",
        ));
    }
    let p2 = Conv2dParams {
        stride: [1, p.stride],
        padding: [[0, 0], p.padding],
        dilation: [1, p.dilation],
        groups: p.groups,
    };
    let y = conv2d_named(OP, x.insert_axis(Axis(2)), w.insert_axis(Axis(2)), b, &p2)?;
    Ok(y.remove_axis(Axis(2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, ArrayD, IxDyn};

    /// Direct definition of convolution, for comparison.
    fn naive_conv2d(
        x: &ArrayD<f64>,
        w: &ArrayD<f64>,
        b: Option<&ArrayD<f64>>,
        p: &Conv2dParams,
    ) -> ArrayD<f64> {
        let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
        let ho = conv_out_size("t", h, kh, p.stride[0], p.padding[0], p.dilation[0]).unwrap();
        let wo = conv_out_size("t", wd, kw, p.stride[1], p.padding[1], p.dilation[1]).unwrap();
        let og = o / p.groups;
        let _ = c;
        let mut y = ArrayD::<f64>::zeros(IxDyn(&[n, o, ho, wo]));
        for i in 0..n {
            for oc in 0..o {
                let g = oc / og;
                for oh in 0..ho {
                    for ow in 0..wo {
                        let mut acc = b.map_or(0.0, |b| b[[oc]]);
                        for ic in 0..cg {
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let ih = (oh * p.stride[0] + ki * p.dilation[0]) as isize
                                        - p.padding[0][0] as isize;
                                    let iw = (ow * p.stride[1] + kj * p.dilation[1]) as isize
                                        - p.padding[1][0] as isize;
                                    if ih >= 0 && (ih as usize) < h && iw >= 0 && (iw as usize) < wd
                                    {
                                        acc += x[[i, g * cg + ic, ih as usize, iw as usize]]
                                            * w[[oc, ic, ki, kj]];
                                    }
                                }
                            }
                        }
                        y[[i, oc, oh, ow]] = acc;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn packed_matches_naive_with_stride_padding_dilation_and_relu() {
        let x = Array::from_shape_fn((3, 3, 7, 6), |(a, b, c, d)| {
            ((a * 31 + b * 7 + c * 3 + d) % 11) as f64 - 5.0
        })
        .into_dyn();
        let w = Array::from_shape_fn((5, 3, 3, 2), |(a, b, c, d)| {
            ((a * 5 + b * 3 + c + d * 2) % 7) as f64 - 3.0
        })
        .into_dyn();
        let b = Array::from_shape_fn(5, |i| i as f64 * 0.5 - 1.0).into_dyn();
        for p in [
            Conv2dParams::default(),
            Conv2dParams {
                stride: [2, 1],
                padding: [[1, 2], [0, 1]],
                dilation: [1, 2],
                groups: 1,
            },
        ] {
            let expected = naive_conv2d(&x, &w, Some(&b), &p);
            let (x32, w32, b32) = (
                x.mapv(|v| v as f32),
                w.mapv(|v| v as f32),
                b.mapv(|v| v as f32),
            );
            let conv = PackedConv2d::new(w32.view(), Some(b32.view()), p).unwrap();
            assert_eq!(conv.output_shape(x.shape()).unwrap(), expected.shape());
            let mut scratch = vec![0.0; conv.scratch_len(x.shape()).unwrap()];
            for relu in [false, true] {
                let mut out = vec![f32::NAN; expected.len()];
                let epilogue = if relu { Epilogue::Relu } else { Epilogue::None };
                conv.run_into(
                    x32.as_slice().unwrap(),
                    x.shape(),
                    epilogue,
                    &mut scratch,
                    &mut out,
                )
                .unwrap();
                for (got, want) in out.iter().zip(expected.iter()) {
                    let want = if relu { want.max(0.0) } else { *want };
                    assert_eq!(f64::from(*got), want);
                }
            }
        }
    }

    #[test]
    fn packed_refuses_groups_and_wrong_buffers() {
        let w = ArrayD::<f32>::ones(IxDyn(&[2, 1, 2, 2]));
        let grouped = Conv2dParams {
            groups: 2,
            ..Conv2dParams::default()
        };
        assert_eq!(
            PackedConv2d::new(w.view(), None, grouped)
                .unwrap_err()
                .code(),
            "TL0508"
        );
        let conv = PackedConv2d::new(w.view(), None, Conv2dParams::default()).unwrap();
        let mut out = [0.0f32; 8];
        let err = conv
            .run_into(
                &[0.0; 9],
                &[1, 1, 3, 3],
                Epilogue::None,
                &mut [0.0; 2],
                &mut out,
            )
            .unwrap_err();
        assert_eq!(err.code(), "TL0501", "scratch too small");
        let err = conv
            .run_into(
                &[0.0; 9],
                &[1, 2, 3, 3],
                Epilogue::None,
                &mut [0.0; 16],
                &mut out,
            )
            .unwrap_err();
        assert_eq!(err.code(), "TL0501", "channel mismatch");
    }

    #[test]
    fn hand_computed_3x3() {
        // 1x1x3x3 input 1..9, 2x2 kernel of ones: each output is a window sum.
        let x = Array::from_shape_vec((1, 1, 3, 3), (1..=9).map(f64::from).collect())
            .unwrap()
            .into_dyn();
        let w = ArrayD::<f64>::ones(IxDyn(&[1, 1, 2, 2]));
        let y = conv2d(x.view(), w.view(), None, &Conv2dParams::default()).unwrap();
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![12.0, 16.0, 24.0, 28.0]
        );
    }

    #[test]
    fn matches_naive_with_stride_padding_dilation_groups() {
        let x = Array::from_shape_fn((2, 4, 7, 6), |(a, b, c, d)| {
            ((a * 31 + b * 7 + c * 3 + d) % 11) as f64 - 5.0
        })
        .into_dyn();
        let w = Array::from_shape_fn((6, 2, 3, 2), |(a, b, c, d)| {
            ((a * 5 + b * 3 + c + d * 2) % 7) as f64 - 3.0
        })
        .into_dyn();
        let b = Array::from_shape_fn(6, |i| i as f64 * 0.5).into_dyn();
        let p = Conv2dParams {
            stride: [2, 1],
            padding: [[1, 2], [0, 1]],
            dilation: [1, 2],
            groups: 2,
        };
        let y = conv2d(x.view(), w.view(), Some(b.view()), &p).unwrap();
        assert_eq!(y, naive_conv2d(&x, &w, Some(&b), &p));
    }

    #[test]
    fn conv1d_matches_hand_values() {
        let x = Array::from_shape_vec((1, 1, 5), vec![1.0, 2.0, 3.0, 4.0, 5.0])
            .unwrap()
            .into_dyn();
        let w = Array::from_shape_vec((1, 1, 3), vec![1.0, 0.0, -1.0])
            .unwrap()
            .into_dyn();
        let p = Conv1dParams {
            padding: [1, 1],
            ..Default::default()
        };
        let y = conv1d(x.view(), w.view(), None, &p).unwrap();
        assert_eq!(y.shape(), &[1, 1, 5]);
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![-2.0, -2.0, -2.0, -2.0, 4.0]
        );
    }

    #[test]
    fn bad_shapes_are_coded() {
        let x = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 4, 4]));
        let w = ArrayD::<f32>::zeros(IxDyn(&[2, 2, 3, 3]));
        assert_eq!(
            conv2d(x.view(), w.view(), None, &Conv2dParams::default())
                .unwrap_err()
                .code(),
            "TL0501"
        );
        let w = ArrayD::<f32>::zeros(IxDyn(&[2, 3, 5, 5]));
        assert_eq!(
            conv2d(x.view(), w.view(), None, &Conv2dParams::default())
                .unwrap_err()
                .code(),
            "TL0501"
        );
        let w = ArrayD::<f32>::zeros(IxDyn(&[2, 3, 3, 3]));
        let p = Conv2dParams {
            stride: [0, 1],
            ..Default::default()
        };
        assert_eq!(
            conv2d(x.view(), w.view(), None, &p).unwrap_err().code(),
            "TL0503"
        );
        assert_eq!(
            conv2d(
                w.view().remove_axis(Axis(0)),
                w.view(),
                None,
                &Conv2dParams::default()
            )
            .unwrap_err()
            .code(),
            "TL0501"
        );
    }
}
