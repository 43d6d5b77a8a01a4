//! Selection by a condition (`where`) and triangle masks (`trilu`): the pieces of the causal
//! masks Hugging Face exports (`Where(mask, scores, finfo.min)`, `torch.triu(full, 1)`).

use crate::error::{KernelError, KernelResult};
use crate::tensor::broadcast_shapes;
use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};

/// `a` where `cond` is true, else `b`, with numpy broadcasting of all three.
pub fn where_select<T: Copy + Default>(
    cond: ArrayViewD<bool>,
    a: ArrayViewD<T>,
    b: ArrayViewD<T>,
) -> KernelResult<ArrayD<T>> {
    let ab = broadcast_shapes("where", a.shape(), b.shape())?;
    let shape = broadcast_shapes("where", &ab, cond.shape())?;
    crate::tensor::checked_numel("where", &shape)?;
    let bcast_err = |s: &[usize]| KernelError::Broadcast {
        op: "where",
        lhs: s.to_vec(),
        rhs: shape.clone(),
    };
    let c = cond
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| bcast_err(cond.shape()))?;
    let a_b = a
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| bcast_err(a.shape()))?;
    let b_b = b
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| bcast_err(b.shape()))?;
    let mut out = ArrayD::<T>::from_elem(IxDyn(&shape), T::default());
    Zip::from(&mut out)
        .and(&c)
        .and(&a_b)
        .and(&b_b)
        .for_each(|o, &c, &x, &y| *o = if c { x } else { y });
    Ok(out)
}

/// Whether trilu keeps element (row `i`, column `j`): upper keeps `j - i >= k`, lower `j - i <= k`.
pub fn trilu_keeps(upper: bool, k: i64, i: usize, j: usize) -> bool {
    let d = j as i64 - i as i64;
    if upper {
        d >= k
    } else {
        d <= k
    }
}

/// `x` with the elements outside the kept triangle of its last two axes set to zero (`T`'s
/// default: 0 for f32, f64 and i64).
pub fn trilu<T: Copy + Default>(x: ArrayViewD<T>, upper: bool, k: i64) -> KernelResult<ArrayD<T>> {
    let r = x.ndim();
    if r < 2 {
        return Err(KernelError::shape(
            "trilu",
            format!("needs rank >= 2, got shape {:?}", x.shape()),
        ));
    }
    let mut out = x.to_owned();
    for (idx, v) in out.indexed_iter_mut() {
        if !trilu_keeps(upper, k, idx[r - 2], idx[r - 1]) {
            *v = T::default();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn where_broadcasts_condition_and_scalar_fill() {
        let cond = array![[true, false], [false, true]].into_dyn();
        let a = array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
        let b = ArrayD::from_elem(IxDyn(&[]), f64::NEG_INFINITY);
        let out = where_select(cond.view(), a.view(), b.view()).unwrap();
        assert_eq!(
            out,
            array![[1.0, f64::NEG_INFINITY], [f64::NEG_INFINITY, 4.0]].into_dyn()
        );
        let bad = ArrayD::from_elem(IxDyn(&[3]), true);
        let e = where_select(bad.view(), a.view(), b.view()).unwrap_err();
        assert_eq!(e.code(), "TL0502");
    }

    #[test]
    fn trilu_matches_numpy_triu_and_tril() {
        // numpy.triu(ones(3, 4), 1) and numpy.tril(ones(3, 4), -1), written out.
        let x = ArrayD::from_elem(IxDyn(&[3, 4]), 1i64);
        let up = trilu(x.view(), true, 1).unwrap();
        assert_eq!(
            up,
            array![[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]].into_dyn()
        );
        let low = trilu(x.view(), false, -1).unwrap();
        assert_eq!(
            low,
            array![[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0]].into_dyn()
        );
        assert!(trilu(ArrayD::from_elem(IxDyn(&[3]), 1.0).view(), true, 0).is_err());
    }
}
