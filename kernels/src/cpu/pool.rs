//! 2-D pooling over NCHW: max and average (PyTorch semantics for ceil_mode and
//! count_include_pad), and global average pooling over all spatial dims.

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use crate::tensor::checked_numel;
use ndarray::{Array4, ArrayD, ArrayViewD, Axis, Ix4, IxDyn};

/// Parameters of a 2-D pooling window. `padding[d] = [begin, end]` for spatial dim `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dParams {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [[usize; 2]; 2],
    /// Spacing between window taps (max pooling only; average pooling requires 1).
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
    /// Average pooling only: divide by the whole window (padding included) instead of the
    /// number of real input elements under it.
    pub count_include_pad: bool,
}

impl Pool2dParams {
    /// A window with stride = kernel and no padding (PyTorch's default).
    pub fn new(kernel: [usize; 2]) -> Self {
        Pool2dParams {
            kernel,
            stride: kernel,
            padding: [[0, 0], [0, 0]],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
        }
    }
}

/// PyTorch's pooling output size; with ceil_mode the last window must start inside the input or
/// the left padding.
fn pool_out_size(
    op: &'static str,
    input: usize,
    k: usize,
    s: usize,
    pad: [usize; 2],
    ceil: bool,
) -> KernelResult<usize> {
    let span = input + pad[0] + pad[1];
    if span < k {
        return Err(KernelError::shape(
            op,
            format!("padded input size {span} is smaller than the window {k}"),
        ));
    }
    let num = span - k;
    let mut out = if ceil { num.div_ceil(s) } else { num / s } + 1;
    if ceil && (out - 1) * s >= input + pad[0] {
        out -= 1;
    }
    Ok(out)
}

struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
}

fn geometry<T>(
    op: &'static str,
    x: &ndarray::ArrayView4<T>,
    p: &Pool2dParams,
) -> KernelResult<Geometry> {
    if p.kernel.contains(&0) || p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(KernelError::argument(
            op,
            "kernel, stride and dilation must be >= 1",
        ));
    }
    for d in 0..2 {
        if p.padding[d].iter().any(|&pd| pd >= p.kernel[d]) {
            return Err(KernelError::argument(
                op,
                format!(
                    "padding {:?} must be smaller than the window {}",
                    p.padding[d], p.kernel[d]
                ),
            ));
        }
    }
    let (n, c, h, w) = x.dim();
    let reach = |d: usize| p.dilation[d] * (p.kernel[d] - 1) + 1;
    let ho = pool_out_size(op, h, reach(0), p.stride[0], p.padding[0], p.ceil_mode)?;
    let wo = pool_out_size(op, w, reach(1), p.stride[1], p.padding[1], p.ceil_mode)?;
    checked_numel(op, &[n, c, ho, wo])?;
    Ok(Geometry { n, c, h, w, ho, wo })
}

fn as_nchw<'a, T>(
    op: &'static str,
    x: ArrayViewD<'a, T>,
) -> KernelResult<ndarray::ArrayView4<'a, T>> {
    x.into_dimensionality::<Ix4>()
        .map_err(|_| KernelError::shape(op, "input must be [N, C, H, W]"))
}

/// Window `[start, end)` of output index `o` along one dim, before clipping to the input.
fn window(o: usize, s: usize, k: usize, pad_begin: usize) -> (isize, isize) {
    let start = (o * s) as isize - pad_begin as isize;
    (start, start + k as isize)
}

/// Max pooling; padding never wins (it acts as -inf). NaN propagates.
pub fn max_pool2d<T: Real>(x: ArrayViewD<T>, p: &Pool2dParams) -> KernelResult<ArrayD<T>> {
    let g = pooled_geometry("max_pool2d", &x, p)?;
    let mut out = Array4::<T>::from_elem((g.n, g.c, g.ho, g.wo), T::NEG_INFINITY);
    max_pool2d_into(x, p, out.as_slice_mut().expect("fresh array"))?;
    Ok(out.into_dyn())
}

/// Average pooling with PyTorch's divisor rule.
pub fn avg_pool2d<T: Real>(x: ArrayViewD<T>, p: &Pool2dParams) -> KernelResult<ArrayD<T>> {
    let g = pooled_geometry("avg_pool2d", &x, p)?;
    let mut out = Array4::<T>::zeros((g.n, g.c, g.ho, g.wo));
    avg_pool2d_into(x, p, out.as_slice_mut().expect("fresh array"))?;
    Ok(out.into_dyn())
}

/// The geometry of pooling `x`.
fn pooled_geometry<T>(
    op: &'static str,
    x: &ArrayViewD<T>,
    p: &Pool2dParams,
) -> KernelResult<Geometry> {
    geometry(op, &as_nchw(op, x.view())?, p)
}

/// Checks that `out` holds exactly `[N, C, Ho, Wo]` values.
fn check_out(op: &'static str, g: &Geometry, out_len: usize) -> KernelResult<()> {
    let needed = g.n * g.c * g.ho * g.wo;
    if out_len != needed {
        return Err(KernelError::shape(
            op,
            format!(
                "output holds {out_len} values, [{}, {}, {}, {}] needs {needed}",
                g.n, g.c, g.ho, g.wo
            ),
        ));
    }
    Ok(())
}

/// The input taps `[start, end)` of output index `o` along one dim, clipped to the input.
fn clipped(o: usize, s: usize, k: usize, pad_begin: usize, len: usize) -> (usize, usize) {
    let (start, end) = window(o, s, k, pad_begin);
    (start.max(0) as usize, end.clamp(0, len as isize) as usize)
}

/// [`max_pool2d`] written into `out` (`[N, C, Ho, Wo]`, standard layout); allocation-free when
/// `x` is in standard layout.
pub fn max_pool2d_into<T: Real>(
    x: ArrayViewD<T>,
    p: &Pool2dParams,
    out: &mut [T],
) -> KernelResult<()> {
    const OP: &str = "max_pool2d";
    let g = pooled_geometry(OP, &x, p)?;
    check_out(OP, &g, out.len())?;
    let x_std = x.as_standard_layout();
    let xs = x_std.as_slice().expect("standard layout");
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    for plane_idx in 0..g.n * g.c {
        let plane = &xs[plane_idx * hw..(plane_idx + 1) * hw];
        let dst = &mut out[plane_idx * ohw..(plane_idx + 1) * ohw];
        for oh in 0..g.ho {
            let (hs, _) = window(oh, p.stride[0], p.kernel[0], p.padding[0][0]);
            for ow in 0..g.wo {
                let (ws, _) = window(ow, p.stride[1], p.kernel[1], p.padding[1][0]);
                let mut acc = T::NEG_INFINITY;
                for ki in 0..p.kernel[0] {
                    let ih = hs + (ki * p.dilation[0]) as isize;
                    if ih < 0 || ih >= g.h as isize {
                        continue;
                    }
                    let row = &plane[ih as usize * g.w..(ih as usize + 1) * g.w];
                    for kj in 0..p.kernel[1] {
                        let iw = ws + (kj * p.dilation[1]) as isize;
                        if iw >= 0 && iw < g.w as isize {
                            acc = acc.max_nan(row[iw as usize]);
                        }
                    }
                }
                dst[oh * g.wo + ow] = acc;
            }
        }
    }
    Ok(())
}

/// [`avg_pool2d`] written into `out` (`[N, C, Ho, Wo]`, standard layout); allocation-free when
/// `x` is in standard layout.
pub fn avg_pool2d_into<T: Real>(
    x: ArrayViewD<T>,
    p: &Pool2dParams,
    out: &mut [T],
) -> KernelResult<()> {
    const OP: &str = "avg_pool2d";
    if p.dilation != [1, 1] {
        return Err(KernelError::argument(OP, "average pooling has no dilation"));
    }
    let g = pooled_geometry(OP, &x, p)?;
    check_out(OP, &g, out.len())?;
    let x_std = x.as_standard_layout();
    let xs = x_std.as_slice().expect("standard layout");
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    let planes = g.n * g.c;
    // Window of output (oh, ow): clipped input rows and columns, and the divisor.
    let window_of = |oh: usize, ow: usize| {
        let (hs, he) = window(oh, p.stride[0], p.kernel[0], p.padding[0][0]);
        let (ws, we) = window(ow, p.stride[1], p.kernel[1], p.padding[1][0]);
        let (h0, h1) = clipped(oh, p.stride[0], p.kernel[0], p.padding[0][0], g.h);
        let (w0, w1) = clipped(ow, p.stride[1], p.kernel[1], p.padding[1][0], g.w);
        let count = if p.count_include_pad {
            // The window counted with padding stops at the end of the end padding.
            let he_pad = he.min((g.h + p.padding[0][1]) as isize);
            let we_pad = we.min((g.w + p.padding[1][1]) as isize);
            ((he_pad - hs) * (we_pad - ws)) as usize
        } else {
            h1.saturating_sub(h0) * w1.saturating_sub(w0)
        };
        (h0..h1, w0..w1, T::from_usize(count.max(1)))
    };
    let mean = |plane: &[T], rows: std::ops::Range<usize>, cols: &std::ops::Range<usize>| {
        let mut acc = T::zero();
        for ih in rows {
            for &v in &plane[ih * g.w + cols.start..ih * g.w + cols.end] {
                acc = acc + v;
            }
        }
        acc
    };
    if planes * hw <= SMALL_INPUT {
        // The whole input stays in cache: work out each window once for all planes.
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let (rows, cols, divisor) = window_of(oh, ow);
                let at = oh * g.wo + ow;
                for plane_idx in 0..planes {
                    let plane = &xs[plane_idx * hw..(plane_idx + 1) * hw];
                    out[plane_idx * ohw + at] = mean(plane, rows.clone(), &cols) / divisor;
                }
            }
        }
        return Ok(());
    }
    for plane_idx in 0..planes {
        let plane = &xs[plane_idx * hw..(plane_idx + 1) * hw];
        let dst = &mut out[plane_idx * ohw..(plane_idx + 1) * ohw];
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let (rows, cols, divisor) = window_of(oh, ow);
                dst[oh * g.wo + ow] = mean(plane, rows, &cols) / divisor;
            }
        }
    }
    Ok(())
}

/// Inputs up to this many values are pooled window by window across all planes.
const SMALL_INPUT: usize = 1 << 15;

/// Mean over every dim after the first two: `[N, C, ...] -> [N, C, 1, ...]`.
pub fn global_avg_pool<T: Real>(x: ArrayViewD<T>) -> KernelResult<ArrayD<T>> {
    const OP: &str = "global_avg_pool";
    if x.ndim() < 3 {
        return Err(KernelError::shape(OP, "input must be [N, C, spatial...]"));
    }
    let spatial: usize = x.shape()[2..].iter().product();
    if spatial == 0 {
        return Err(KernelError::shape(OP, "spatial dims must be non-empty"));
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let x_std = x.as_standard_layout();
    let flat = x_std
        .view()
        .into_shape_with_order((n, c, spatial))
        .map_err(|e| KernelError::shape(OP, e.to_string()))?;
    let sum = flat.sum_axis(Axis(2));
    let mut shape = vec![n, c];
    shape.extend(std::iter::repeat_n(1, x.ndim() - 2));
    let mean = sum.mapv(|v| v / T::from_usize(spatial));
    mean.into_shape_with_order(IxDyn(&shape))
        .map_err(|e| KernelError::shape(OP, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    fn grid4() -> ArrayD<f64> {
        Array::from_shape_vec((1, 1, 4, 4), (1..=16).map(f64::from).collect())
            .unwrap()
            .into_dyn()
    }

    #[test]
    fn max_and_avg_2x2() {
        let x = grid4();
        let p = Pool2dParams::new([2, 2]);
        let m = max_pool2d(x.view(), &p).unwrap();
        assert_eq!(
            m.iter().copied().collect::<Vec<_>>(),
            vec![6.0, 8.0, 14.0, 16.0]
        );
        let a = avg_pool2d(x.view(), &p).unwrap();
        assert_eq!(
            a.iter().copied().collect::<Vec<_>>(),
            vec![3.5, 5.5, 11.5, 13.5]
        );
    }

    #[test]
    fn padding_and_count_include_pad() {
        let x = grid4();
        let mut p = Pool2dParams::new([3, 3]);
        p.stride = [2, 2];
        p.padding = [[1, 1], [1, 1]];
        // Top-left window covers x[0..2, 0..2] = 1,2,5,6 (sum 14) plus 5 padding cells.
        let a = avg_pool2d(x.view(), &p).unwrap();
        assert_eq!(a.shape(), &[1, 1, 2, 2]);
        assert_eq!(a[[0, 0, 0, 0]], 14.0 / 9.0);
        p.count_include_pad = false;
        let a = avg_pool2d(x.view(), &p).unwrap();
        assert_eq!(a[[0, 0, 0, 0]], 14.0 / 4.0);
        let m = max_pool2d(x.view(), &p).unwrap();
        assert_eq!(
            m.iter().copied().collect::<Vec<_>>(),
            vec![6.0, 8.0, 14.0, 16.0]
        );
    }

    #[test]
    fn ceil_mode_adds_partial_window() {
        let x = Array::from_shape_vec((1, 1, 1, 5), vec![1.0, 2.0, 3.0, 4.0, 5.0])
            .unwrap()
            .into_dyn();
        let mut p = Pool2dParams::new([1, 2]);
        assert_eq!(max_pool2d(x.view(), &p).unwrap().shape(), &[1, 1, 1, 2]);
        p.ceil_mode = true;
        let m = max_pool2d(x.view(), &p).unwrap();
        assert_eq!(m.iter().copied().collect::<Vec<_>>(), vec![2.0, 4.0, 5.0]);
        // The partial window is divided by its real size (PyTorch: the window is clipped to input+pad).
        let a = avg_pool2d(x.view(), &p).unwrap();
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![1.5, 3.5, 5.0]);
    }

    #[test]
    fn dilated_max_pool_skips_taps() {
        // Row 1..=5 with a 2-tap window dilated by 2: max(x0, x2), max(x1, x3), max(x2, x4).
        let x = Array::from_shape_vec((1, 1, 1, 5), vec![5.0, 1.0, 2.0, 9.0, 3.0])
            .unwrap()
            .into_dyn();
        let p = Pool2dParams {
            stride: [1, 1],
            dilation: [1, 2],
            ..Pool2dParams::new([1, 2])
        };
        let m = max_pool2d(x.view(), &p).unwrap();
        assert_eq!(m.iter().copied().collect::<Vec<_>>(), vec![5.0, 9.0, 3.0]);
        assert_eq!(avg_pool2d(x.view(), &p).unwrap_err().code(), "TL0503");
    }

    #[test]
    fn into_variants_refuse_a_wrong_output_size() {
        let p = Pool2dParams::new([2, 2]);
        let mut short = [0.0f64; 3];
        assert_eq!(
            max_pool2d_into(grid4().view(), &p, &mut short)
                .unwrap_err()
                .code(),
            "TL0501"
        );
        assert_eq!(
            avg_pool2d_into(grid4().view(), &p, &mut short)
                .unwrap_err()
                .code(),
            "TL0501"
        );
        // A transposed (non-standard) input gives the same answer as its standard copy.
        let t = grid4().permuted_axes(IxDyn(&[0, 1, 3, 2]));
        let mut out = [0.0f64; 4];
        avg_pool2d_into(t.view(), &p, &mut out).unwrap();
        assert_eq!(out, [3.5, 11.5, 5.5, 13.5]);
    }

    #[test]
    fn global_avg_and_errors() {
        let g = global_avg_pool(grid4().view()).unwrap();
        assert_eq!(g.shape(), &[1, 1, 1, 1]);
        assert_eq!(g[[0, 0, 0, 0]], 8.5);
        let p = Pool2dParams {
            padding: [[2, 2], [0, 0]],
            ..Pool2dParams::new([2, 2])
        };
        assert_eq!(max_pool2d(grid4().view(), &p).unwrap_err().code(), "TL0503");
        let flat = ArrayD::<f64>::zeros(IxDyn(&[4, 4]));
        assert_eq!(
            max_pool2d(flat.view(), &Pool2dParams::new([2, 2]))
                .unwrap_err()
                .code(),
            "TL0501"
        );
        assert_eq!(global_avg_pool(flat.view()).unwrap_err().code(), "TL0501");
    }
}
