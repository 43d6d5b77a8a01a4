//! ONNX `Resize` (and `Upsample`) in nearest and linear modes: separable, one axis at a time.
//! Each output position of an axis reads two input positions with weights `1 - f` and `f`
//! (nearest: one position, `f = 0`); the backward pass scatters through the same taps.

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

const OP: &str = "resize";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeMode {
    Nearest,
    Linear,
}

/// ONNX's `coordinate_transformation_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinateMode {
    HalfPixel,
    PytorchHalfPixel,
    Asymmetric,
    AlignCorners,
}

/// ONNX's `nearest_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResizeParams {
    pub shape: Vec<usize>,
    pub mode: ResizeMode,
    pub coordinates: CoordinateMode,
    pub nearest: NearestMode,
}

/// One output position's taps: `(i0, i1, f)` reads `(1 - f) x[i0] + f x[i1]`.
type Tap = (usize, usize, f64);

/// The taps of every output position of an axis resized from `n` to `m`.
pub fn resize_taps(p: &ResizeParams, n: usize, m: usize) -> Vec<Tap> {
    let scale = m as f64 / n as f64;
    (0..m)
        .map(|o| {
            if n == m {
                return (o, o, 0.0);
            }
            let x = o as f64;
            let c = match p.coordinates {
                CoordinateMode::HalfPixel => (x + 0.5) / scale - 0.5,
                CoordinateMode::PytorchHalfPixel if m > 1 => (x + 0.5) / scale - 0.5,
                CoordinateMode::PytorchHalfPixel => 0.0,
                CoordinateMode::Asymmetric => x / scale,
                CoordinateMode::AlignCorners if m == 1 => 0.0,
                CoordinateMode::AlignCorners => x * (n - 1) as f64 / (m - 1) as f64,
            };
            let last = (n - 1) as f64;
            match p.mode {
                ResizeMode::Nearest => {
                    let r = match p.nearest {
                        NearestMode::Floor => c.floor(),
                        NearestMode::Ceil => c.ceil(),
                        NearestMode::RoundPreferFloor if c.fract().abs() == 0.5 => c.floor(),
                        NearestMode::RoundPreferCeil if c.fract().abs() == 0.5 => c.ceil(),
                        _ => c.round(),
                    };
                    let i = r.clamp(0.0, last) as usize;
                    (i, i, 0.0)
                }
                ResizeMode::Linear => {
                    let c = c.clamp(0.0, last);
                    let i0 = c.floor() as usize;
                    (i0, (i0 + 1).min(n - 1), c - i0 as f64)
                }
            }
        })
        .collect()
}

fn check(x: &[usize], p: &ResizeParams) -> KernelResult<()> {
    if x.len() != p.shape.len() || x.contains(&0) || p.shape.contains(&0) {
        return Err(KernelError::shape(
            OP,
            format!("input {x:?} cannot be resized to {:?}", p.shape),
        ));
    }
    crate::tensor::checked_numel(OP, &p.shape).map(|_| ())
}

/// `x` resized to `p.shape`.
pub fn resize<T: Real>(x: ArrayViewD<T>, p: &ResizeParams) -> KernelResult<ArrayD<T>> {
    check(x.shape(), p)?;
    let mut cur = x.to_owned();
    for a in 0..p.shape.len() {
        let (n, m) = (cur.shape()[a], p.shape[a]);
        if n == m {
            continue;
        }
        let mut shape = cur.shape().to_vec();
        shape[a] = m;
        let mut out = ArrayD::<T>::zeros(IxDyn(&shape));
        for (o, (i0, i1, f)) in resize_taps(p, n, m).into_iter().enumerate() {
            let mut lane = out.index_axis_mut(Axis(a), o);
            let x0 = cur.index_axis(Axis(a), i0);
            if f == 0.0 {
                lane.assign(&x0);
            } else {
                let x1 = cur.index_axis(Axis(a), i1);
                let (w0, w1) = (T::from_f64(1.0 - f), T::from_f64(f));
                ndarray::Zip::from(&mut lane)
                    .and(&x0)
                    .and(&x1)
                    .for_each(|y, &u, &v| *y = u * w0 + v * w1);
            }
        }
        cur = out;
    }
    Ok(cur)
}

/// The gradient of `resize` for its input of shape `in_shape`, given the output gradient `g`.
pub fn resize_backward(
    g: ArrayViewD<f64>,
    in_shape: &[usize],
    p: &ResizeParams,
) -> KernelResult<ArrayD<f64>> {
    check(in_shape, p)?;
    if g.shape() != p.shape.as_slice() {
        return Err(KernelError::shape(
            OP,
            format!("gradient {:?} is not {:?}", g.shape(), p.shape),
        ));
    }
    // The forward pass resizes axis 0 first; its transpose undoes the last axis first.
    let mut cur = g.to_owned();
    for a in (0..in_shape.len()).rev() {
        let (n, m) = (in_shape[a], p.shape[a]);
        if n == m {
            continue;
        }
        let mut shape = cur.shape().to_vec();
        shape[a] = n;
        let mut back = ArrayD::<f64>::zeros(IxDyn(&shape));
        for (o, (i0, i1, f)) in resize_taps(p, n, m).into_iter().enumerate() {
            let go = cur.index_axis(Axis(a), o).to_owned();
            back.index_axis_mut(Axis(a), i0).scaled_add(1.0 - f, &go);
            if f != 0.0 {
                back.index_axis_mut(Axis(a), i1).scaled_add(f, &go);
            }
        }
        cur = back;
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(mode: ResizeMode, coordinates: CoordinateMode, shape: &[usize]) -> ResizeParams {
        ResizeParams {
            shape: shape.to_vec(),
            mode,
            coordinates,
            nearest: NearestMode::Floor,
        }
    }

    #[test]
    fn taps_follow_the_onnx_coordinate_modes() {
        // nn.Upsample(scale_factor=2, mode="nearest"): asymmetric + floor repeats each element.
        let p = params(ResizeMode::Nearest, CoordinateMode::Asymmetric, &[4]);
        let idx: Vec<usize> = resize_taps(&p, 2, 4).iter().map(|t| t.0).collect();
        assert_eq!(idx, [0, 0, 1, 1]);
        // align_corners linear from 3 to 5: coordinates 0, 0.5, 1, 1.5, 2.
        let p = params(ResizeMode::Linear, CoordinateMode::AlignCorners, &[5]);
        let taps = resize_taps(&p, 3, 5);
        assert_eq!(taps[1], (0, 1, 0.5));
        assert_eq!(taps[4], (2, 2, 0.0));
        // half_pixel linear from 2 to 4: -0.25 clamps to 0; 0.25, 0.75; 1.25 clamps to 1.
        let p = params(ResizeMode::Linear, CoordinateMode::HalfPixel, &[4]);
        let f: Vec<f64> = resize_taps(&p, 2, 4).iter().map(|t| t.2).collect();
        assert_eq!(f, [0.0, 0.25, 0.75, 0.0]);
    }

    #[test]
    fn backward_is_the_transpose() {
        let x = ArrayD::from_shape_fn(IxDyn(&[1, 2, 3, 4]), |i| {
            (i[1] * 12 + i[2] * 4 + i[3]) as f64 * 0.3 - 1.0
        });
        for mode in [ResizeMode::Nearest, ResizeMode::Linear] {
            let p = params(mode, CoordinateMode::HalfPixel, &[1, 2, 7, 5]);
            let y = resize(x.view(), &p).unwrap();
            let g = ArrayD::from_shape_fn(y.raw_dim(), |i| {
                ((i[1] + 2 * i[2] + 3 * i[3]) % 4) as f64 - 1.5
            });
            let dx = resize_backward(g.view(), x.shape(), &p).unwrap();
            let (lhs, rhs) = ((&y * &g).sum(), (&x * &dx).sum());
            assert!((lhs - rhs).abs() < 1e-9, "{mode:?}: {lhs} vs {rhs}");
        }
    }
}
