//! Matrix products: `matmul` with numpy rules (1-D promotion, broadcast batch dims) and `linear`
//! with PyTorch's convention `y = x W^T + b`. Both reduce to ndarray's `general_mat_mul`
//! (the matrixmultiply GEMM).

use crate::error::{KernelError, KernelResult};
use crate::real::Real;
use crate::tensor::{broadcast_shapes, checked_numel};
use ndarray::linalg::general_mat_mul;
use ndarray::{
    Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Ix2, IxDyn,
};

/// Batched matrix product with numpy semantics.
pub fn matmul<T: Real>(a: ArrayViewD<T>, b: ArrayViewD<T>) -> KernelResult<ArrayD<T>> {
    const OP: &str = "matmul";
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(KernelError::shape(OP, "operands must have rank >= 1"));
    }
    let a_vec = a.ndim() == 1;
    let b_vec = b.ndim() == 1;
    let a2 = if a_vec { a.insert_axis(Axis(0)) } else { a };
    let b2 = if b_vec { b.insert_axis(Axis(1)) } else { b };
    let (m, k) = (a2.shape()[a2.ndim() - 2], a2.shape()[a2.ndim() - 1]);
    let (k2, n) = (b2.shape()[b2.ndim() - 2], b2.shape()[b2.ndim() - 1]);
    if k != k2 {
        return Err(KernelError::shape(
            OP,
            format!("inner dims differ: {:?} @ {:?}", a2.shape(), b2.shape()),
        ));
    }
    let batch = broadcast_shapes(
        OP,
        &a2.shape()[..a2.ndim() - 2],
        &b2.shape()[..b2.ndim() - 2],
    )?;
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    checked_numel(OP, &out_shape)?;
    let mut out = ArrayD::<T>::zeros(IxDyn(&out_shape));
    for idx in ndarray::indices(IxDyn(&batch)) {
        let idx = ndarray::Dimension::slice(&idx);
        let am = batch_matrix(a2.view(), idx)?;
        let bm = batch_matrix(b2.view(), idx)?;
        let mut om = out.view_mut();
        for &i in idx {
            om = om.index_axis_move(Axis(0), i);
        }
        let mut om = om
            .into_dimensionality::<Ix2>()
            .map_err(|e| KernelError::shape(OP, e.to_string()))?;
        general_mat_mul(T::one(), &am, &bm, T::zero(), &mut om);
    }
    let mut final_shape = batch;
    if !a_vec {
        final_shape.push(m);
    }
    if !b_vec {
        final_shape.push(n);
    }
    out.into_shape_with_order(IxDyn(&final_shape))
        .map_err(|e| KernelError::shape(OP, e.to_string()))
}

/// The matrix of `x` at broadcast batch index `idx` (dims of size 1 repeat).
fn batch_matrix<'a, T>(x: ArrayViewD<'a, T>, idx: &[usize]) -> KernelResult<ArrayView2<'a, T>> {
    let own_batch = x.ndim() - 2;
    let skip = idx.len() - own_batch;
    let mut v = x;
    for &i in &idx[skip..] {
        let i = if v.shape()[0] == 1 { 0 } else { i };
        v = v.index_axis_move(Axis(0), i);
    }
    v.into_dimensionality::<Ix2>()
        .map_err(|e| KernelError::shape("matmul", e.to_string()))
}

/// `y = x W^T + b` for `x: [..., in]`, `W: [out, in]`, `b: [out]`; `y: [..., out]`.
pub fn linear<T: Real>(
    x: ArrayViewD<T>,
    w: ArrayViewD<T>,
    b: Option<ArrayViewD<T>>,
) -> KernelResult<ArrayD<T>> {
    const OP: &str = "linear";
    if x.ndim() == 0 {
        return Err(KernelError::shape(OP, "input must have rank >= 1"));
    }
    let w2 = w
        .into_dimensionality::<Ix2>()
        .map_err(|_| KernelError::shape(OP, "weight must be [out, in]"))?;
    let b1 = b
        .map(|b| {
            b.into_dimensionality::<ndarray::Ix1>()
                .map_err(|_| KernelError::shape(OP, "bias must be [out]"))
        })
        .transpose()?;
    let in_features = *x.shape().last().unwrap_or(&0);
    let rows: usize = x.shape()[..x.ndim() - 1].iter().product();
    let x_std = x.as_standard_layout();
    let x2 = x_std
        .view()
        .into_shape_with_order((rows, in_features))
        .map_err(|e| KernelError::shape(OP, e.to_string()))?;
    let mut out_shape = x.shape()[..x.ndim() - 1].to_vec();
    out_shape.push(w2.nrows());
    checked_numel(OP, &out_shape)?;
    let mut y = Array2::<T>::zeros((rows, w2.nrows()));
    linear_into(x2, w2, b1, y.view_mut())?;
    y.into_shape_with_order(IxDyn(&out_shape))
        .map_err(|e| KernelError::shape(OP, e.to_string()))
}

/// `out = x W^T + b` on matrices; the allocation-free core of [`linear`].
pub fn linear_into<T: Real>(
    x: ArrayView2<T>,
    w: ArrayView2<T>,
    b: Option<ArrayView1<T>>,
    mut out: ArrayViewMut2<T>,
) -> KernelResult<()> {
    const OP: &str = "linear";
    if x.ncols() != w.ncols() {
        return Err(KernelError::shape(
            OP,
            format!(
                "input has {} features but weight is {:?}",
                x.ncols(),
                w.shape()
            ),
        ));
    }
    if out.dim() != (x.nrows(), w.nrows()) {
        return Err(KernelError::shape(
            OP,
            format!(
                "output is {:?}, expected [{}, {}]",
                out.shape(),
                x.nrows(),
                w.nrows()
            ),
        ));
    }
    match b {
        Some(b) => {
            if b.len() != w.nrows() {
                return Err(KernelError::shape(
                    OP,
                    format!(
                        "bias has {} entries, weight has {} rows",
                        b.len(),
                        w.nrows()
                    ),
                ));
            }
            let dim = out.dim();
            out.assign(&b.broadcast(dim).expect("bias length checked above"));
            product(x, w, T::one(), out);
        }
        None => product(x, w, T::zero(), out),
    }
    Ok(())
}

/// `out = x W^T + beta out`. One row (a single sample) is a matrix-vector product: a GEMM would
/// pack all of `W` for it, which costs as much as the product.
fn product<T: Real>(x: ArrayView2<T>, w: ArrayView2<T>, beta: T, mut out: ArrayViewMut2<T>) {
    if x.nrows() == 1 {
        ndarray::linalg::general_mat_vec_mul(T::one(), &w, &x.row(0), beta, &mut out.row_mut(0));
    } else {
        general_mat_mul(T::one(), &x, &w.t(), beta, &mut out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, arr2, arr3, Array};

    #[test]
    fn matmul_2d_and_vectors() {
        let a = arr2(&[[1.0, 2.0], [3.0, 4.0]]).into_dyn();
        let b = arr2(&[[5.0, 6.0], [7.0, 8.0]]).into_dyn();
        assert_eq!(
            matmul(a.view(), b.view()).unwrap(),
            arr2(&[[19.0, 22.0], [43.0, 50.0]]).into_dyn()
        );
        let v = arr1(&[1.0, 1.0]).into_dyn();
        assert_eq!(
            matmul(a.view(), v.view()).unwrap(),
            arr1(&[3.0, 7.0]).into_dyn()
        );
        assert_eq!(
            matmul(v.view(), a.view()).unwrap(),
            arr1(&[4.0, 6.0]).into_dyn()
        );
        assert_eq!(matmul(v.view(), v.view()).unwrap().shape(), &[] as &[usize]);
        assert_eq!(
            matmul(v.view(), v.view()).unwrap().into_iter().next(),
            Some(2.0)
        );
    }

    #[test]
    fn matmul_broadcasts_batches() {
        let a = Array::from_shape_fn((2, 1, 2, 3), |(i, _, r, c)| (i * 6 + r * 3 + c) as f64)
            .into_dyn();
        let b = Array::from_shape_fn((3, 3, 1), |(j, r, _)| (j + r) as f64).into_dyn();
        let y = matmul(a.view(), b.view()).unwrap();
        assert_eq!(y.shape(), &[2, 3, 2, 1]);
        // batch (1, 2): row 1 of a[1] is [9,10,11]; b[2] column is [2,3,4] -> 18+30+44
        assert_eq!(y[[1, 2, 1, 0]], 92.0);
        let bad = arr3(&[[[1.0, 2.0]]]).into_dyn();
        assert_eq!(matmul(a.view(), bad.view()).unwrap_err().code(), "TL0501");
    }

    #[test]
    fn linear_uses_pytorch_convention() {
        let x = arr2(&[[1.0f32, 2.0], [0.0, -1.0]]).into_dyn();
        let w = arr2(&[[1.0f32, 0.0], [1.0, 1.0], [0.5, -1.0]]).into_dyn();
        let b = arr1(&[0.0f32, 1.0, 2.0]).into_dyn();
        let y = linear(x.view(), w.view(), Some(b.view())).unwrap();
        assert_eq!(y, arr2(&[[1.0, 4.0, 0.5], [0.0, 0.0, 3.0]]).into_dyn());
        let x3 = arr3(&[[[1.0f32, 2.0]], [[0.0, -1.0]]]).into_dyn();
        assert_eq!(
            linear(x3.view(), w.view(), None).unwrap().shape(),
            &[2, 1, 3]
        );
        let short_b = arr1(&[0.0f32]).into_dyn();
        assert_eq!(
            linear(x.view(), w.view(), Some(short_b.view()))
                .unwrap_err()
                .code(),
            "TL0501"
        );
        assert_eq!(
            linear(x.view(), b.view(), None).unwrap_err().code(),
            "TL0501"
        );
        let wide = arr2(&[[1.0f32, 2.0, 3.0]]).into_dyn();
        assert_eq!(
            linear(x.view(), wide.view(), None).unwrap_err().code(),
            "TL0501"
        );
    }
}
