//! Backward rules of `linear` (`y = x W^T + b`) and batched `matmul` (numpy semantics: 1-D
//! operands are promoted to matrices, batch dims broadcast).

use super::{operand_mismatch, unbroadcast, Grads, RuleError};
use crate::cpu::matmul as batched_matmul;
use ndarray::{ArrayD, ArrayViewD, Axis, Ix2};

pub(super) fn linear(
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    bias: bool,
    g: &ArrayD<f64>,
    [need_x, need_w]: [bool; 2],
) -> Result<Grads, RuleError> {
    const OP: &str = "linear";
    let w2 = w
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| operand_mismatch(OP, "weight must be [out, in]"))?;
    let (outs, ins) = w2.dim();
    let rows = x.len().checked_div(ins).unwrap_or(0);
    let shape_err = |e: ndarray::ShapeError| operand_mismatch(OP, e.to_string());
    let x2 = x.to_shape((rows, ins)).map_err(shape_err)?;
    let g2 = g.to_shape((rows, outs)).map_err(shape_err)?;
    let gx = if !need_x {
        None
    } else if rows == 1 {
        // One row (a single sample): a sum of weight rows, with no GEMM packing of `w`.
        let mut gx = ndarray::Array1::<f64>::zeros(ins);
        for (gi, wi) in g2.row(0).iter().zip(w2.rows()) {
            if *gi != 0.0 {
                gx.scaled_add(*gi, &wi);
            }
        }
        Some(gx.into_shape_with_order(x.raw_dim()).map_err(shape_err)?)
    } else {
        Some(
            g2.dot(&w2)
                .into_shape_with_order(x.raw_dim())
                .map_err(shape_err)?,
        )
    };
    let gw = need_w.then(|| g2.t().dot(&x2).into_dyn());
    let mut grads = vec![gx, gw];
    if bias {
        grads.push(Some(g2.sum_axis(Axis(0)).into_dyn()));
    }
    Ok(grads)
}

/// The last two axes swapped (a matrix transpose per batch element).
fn transposed(mut v: ArrayViewD<f64>) -> ArrayViewD<f64> {
    let n = v.ndim();
    v.swap_axes(n - 2, n - 1);
    v
}

pub(super) fn matmul(
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
    g: &ArrayD<f64>,
    [need_a, need_b]: [bool; 2],
) -> Result<Grads, RuleError> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(operand_mismatch("matmul", "operands must have rank >= 1"));
    }
    // Promote vectors as numpy does: a [k] -> [1, k], b [k] -> [k, 1]; the gradient of the
    // output gets the axes the promotion removed.
    let (a_vec, b_vec) = (a.ndim() == 1, b.ndim() == 1);
    let a2 = if a_vec {
        a.view().insert_axis(Axis(0))
    } else {
        a.view()
    };
    let b2 = if b_vec {
        b.view().insert_axis(Axis(1))
    } else {
        b.view()
    };
    let mut g2 = g.view();
    if b_vec {
        let end = g2.ndim();
        g2 = g2.insert_axis(Axis(end));
    }
    if a_vec {
        let before_last = g2.ndim() - 1;
        g2 = g2.insert_axis(Axis(before_last));
    }
    let ga = if need_a {
        let ga = unbroadcast(
            batched_matmul(g2.clone(), transposed(b2.clone()))?,
            a2.shape(),
        );
        Some(if a_vec { ga.remove_axis(Axis(0)) } else { ga })
    } else {
        None
    };
    let gb = if need_b {
        let gb = unbroadcast(batched_matmul(transposed(a2.clone()), g2)?, b2.shape());
        Some(if b_vec { gb.remove_axis(Axis(1)) } else { gb })
    } else {
        None
    };
    Ok(vec![ga, gb])
}
