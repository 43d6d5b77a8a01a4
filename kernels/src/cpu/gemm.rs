//! Single-precision GEMM against a right operand packed once: `C = A B + bias`, optionally
//! followed by relu, written through arbitrary output strides, with no allocation.
//!
//! The compiled engine packs every linear and convolution weight at compile time (B = W^T cut
//! into zero-padded panels of [`PANEL`] columns, each stored k-major), so a forward pass only
//! streams the activations. The micro-kernel keeps an `MR x (NP * PANEL)` tile of C in
//! registers; it is written once over fixed-size arrays and compiled three times (AVX-512,
//! AVX2+FMA, baseline) with the widest variant picked at run time.

use crate::error::{KernelError, KernelResult};
use ndarray::{ArrayView1, ArrayView2};

/// Columns per packed panel (one AVX-512 register of f32).
pub const PANEL: usize = 16;

/// The right operand of [`gemm_packed_into`], packed: `B[k, j]` lives at
/// `panels[(j / PANEL) * k_len * PANEL + k * PANEL + j % PANEL]`; padding columns are zero.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedMatrix {
    k: usize,
    n: usize,
    panels: Vec<f32>,
    /// Per output column, zero-padded to whole panels (all zero without a bias).
    bias: Vec<f32>,
}

impl PackedMatrix {
    /// Packs `B = rows^T` for `rows: [n, k]` (a linear weight `[out, in]`, or a convolution
    /// weight viewed as `[out, in * kh * kw]`), with an optional bias `[n]`.
    pub fn from_rows(rows: ArrayView2<f32>, bias: Option<ArrayView1<f32>>) -> KernelResult<Self> {
        let (n, k) = rows.dim();
        if let Some(b) = &bias {
            if b.len() != n {
                return Err(KernelError::shape(
                    "gemm",
                    format!("bias has {} entries, the matrix has {n} rows", b.len()),
                ));
            }
        }
        let n_panels = n.div_ceil(PANEL);
        let len = n_panels
            .checked_mul(k)
            .and_then(|v| v.checked_mul(PANEL))
            .ok_or_else(|| KernelError::shape("gemm", "packed matrix size overflows"))?;
        let mut panels = vec![0.0f32; len];
        for (j, row) in rows.outer_iter().enumerate() {
            let base = (j / PANEL) * k * PANEL + j % PANEL;
            for (kk, &v) in row.iter().enumerate() {
                panels[base + kk * PANEL] = v;
            }
        }
        let mut padded_bias = vec![0.0f32; n_panels * PANEL];
        if let Some(b) = bias {
            for (dst, &v) in padded_bias.iter_mut().zip(b.iter()) {
                *dst = v;
            }
        }
        Ok(PackedMatrix {
            k,
            n,
            panels,
            bias: padded_bias,
        })
    }

    /// Rows of B (the shared dimension).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of B (the output features).
    pub fn n(&self) -> usize {
        self.n
    }
}

/// What is applied to each element of C before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    None,
    /// `max(x, 0)` with NaN kept, as [`crate::cpu::UnaryOp::Relu`].
    Relu,
}

/// Where C lives in its buffer: element `(i, j)` at `i * row_stride + j * col_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutStrides {
    pub row_stride: usize,
    pub col_stride: usize,
}

impl OutStrides {
    /// A row-major `[m, n]` matrix.
    pub fn row_major(n: usize) -> Self {
        OutStrides {
            row_stride: n,
            col_stride: 1,
        }
    }
}

/// `C = epilogue(A B + bias)` for `A: [m, k]` row-major with leading dimension `lda`
/// (`a[i * lda + kk]`), `B` packed, C written through `strides`. Allocation-free.
pub fn gemm_packed_into(
    m: usize,
    a: &[f32],
    lda: usize,
    b: &PackedMatrix,
    epilogue: Epilogue,
    c: &mut [f32],
    strides: OutStrides,
) -> KernelResult<()> {
    const OP: &str = "gemm";
    if m == 0 || b.n == 0 {
        return Ok(());
    }
    if lda < b.k {
        return Err(KernelError::shape(
            OP,
            format!("leading dimension {lda} is smaller than k = {}", b.k),
        ));
    }
    let a_needed = (m - 1)
        .checked_mul(lda)
        .and_then(|v| v.checked_add(b.k))
        .ok_or_else(|| KernelError::shape(OP, "input size overflows"))?;
    if a.len() < a_needed {
        return Err(KernelError::shape(
            OP,
            format!(
                "input holds {} values, [{m}, {}] needs {a_needed}",
                a.len(),
                b.k
            ),
        ));
    }
    let c_needed = (m - 1)
        .checked_mul(strides.row_stride)
        .and_then(|r| {
            (b.n - 1)
                .checked_mul(strides.col_stride)
                .and_then(|c| c.checked_add(r))
        })
        .and_then(|v| v.checked_add(1))
        .ok_or_else(|| KernelError::shape(OP, "output size overflows"))?;
    if c.len() < c_needed {
        return Err(KernelError::shape(
            OP,
            format!("output holds {} values, needs {c_needed}", c.len()),
        ));
    }
    let job = Job {
        m,
        a,
        lda,
        b,
        relu: epilogue == Epilogue::Relu,
        c: c.as_mut_ptr(),
        strides,
    };
    run(job, Isa::best());
    Ok(())
}

/// The instruction sets the micro-kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    Avx512,
    Avx2Fma,
    Baseline,
}

impl Isa {
    fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2Fma;
            }
        }
        Isa::Baseline
    }
}

/// Runs `job` with `isa`, which must be supported by this CPU (`Isa::best` or below).
fn run(job: Job, isa: Isa) {
    match isa {
        // SAFETY: Isa::best saw AVX-512F (which implies AVX2 and FMA).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { run_avx512(job) },
        // SAFETY: Isa::best saw AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { run_avx2(job) },
        _ => run_baseline(job),
    }
}

/// One validated GEMM call.
struct Job<'a> {
    m: usize,
    a: &'a [f32],
    lda: usize,
    b: &'a PackedMatrix,
    relu: bool,
    /// From the caller's unique borrow of C, bounds checked against m, n and `strides`.
    c: *mut f32,
    strides: OutStrides,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(job: Job) {
    // 32 vector registers: 8 rows x 2 panels of accumulators (2 rows x 8 panels when m <= 2).
    drive::<8, 2, 8, true>(job)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(job: Job) {
    // 16 vector registers, a panel is two of them: 4 rows x 1 panel of accumulators
    // (2 rows x 2 panels when m <= 2).
    drive::<4, 1, 2, true>(job)
}

fn run_baseline(job: Job) {
    drive::<4, 1, 2, false>(job)
}

/// Tiles C: column blocks of `NP` panels outside (a block of B stays in cache), row blocks of
/// `MR` inside. With one or two rows (batch 1), blocks of `WIDE` panels keep enough independent
/// FMA chains in flight.
#[inline(always)]
fn drive<const MR: usize, const NP: usize, const WIDE: usize, const FMA: bool>(job: Job) {
    let n_panels = job.b.n.div_ceil(PANEL);
    if job.m <= 2 {
        columns::<MR, WIDE, FMA>(&job, n_panels);
    } else {
        columns::<MR, NP, FMA>(&job, n_panels);
    }
}

#[inline(always)]
fn columns<const MR: usize, const NP: usize, const FMA: bool>(job: &Job, n_panels: usize) {
    let c = job.c;
    let mut p0 = 0;
    while p0 < n_panels {
        let np = (n_panels - p0).min(NP);
        if np == NP {
            rows::<MR, NP, FMA>(job, p0, c);
        } else {
            for p in p0..p0 + np {
                rows::<MR, 1, FMA>(job, p, c);
            }
        }
        p0 += np;
    }
}

#[inline(always)]
fn rows<const MR: usize, const NP: usize, const FMA: bool>(job: &Job, p0: usize, c: *mut f32) {
    let mut r0 = 0;
    while r0 < job.m {
        match job.m - r0 {
            r if r >= MR => tile::<MR, NP, FMA>(job, r0, p0, c),
            1 => tile::<1, NP, FMA>(job, r0, p0, c),
            2 => tile::<2, NP, FMA>(job, r0, p0, c),
            3 => tile::<3, NP, FMA>(job, r0, p0, c),
            4 => tile::<4, NP, FMA>(job, r0, p0, c),
            5 => tile::<5, NP, FMA>(job, r0, p0, c),
            6 => tile::<6, NP, FMA>(job, r0, p0, c),
            _ => tile::<7, NP, FMA>(job, r0, p0, c),
        }
        r0 += MR.min(job.m - r0);
    }
}

#[inline(always)]
fn fmadd<const FMA: bool>(a: f32, b: f32, acc: f32) -> f32 {
    if FMA {
        a.mul_add(b, acc)
    } else {
        a * b + acc
    }
}

/// Computes rows `r0..r0 + R` of C for panels `p0..p0 + NP`.
#[inline(always)]
fn tile<const R: usize, const NP: usize, const FMA: bool>(
    job: &Job,
    r0: usize,
    p0: usize,
    c: *mut f32,
) {
    let k = job.b.k;
    let mut acc = [[[0.0f32; PANEL]; NP]; R];
    for p in 0..NP {
        let bias: &[f32; PANEL] = job.b.bias[(p0 + p) * PANEL..(p0 + p + 1) * PANEL]
            .try_into()
            .expect("bias is padded to whole panels");
        for row in acc.iter_mut() {
            row[p] = *bias;
        }
    }
    let a = job.a.as_ptr();
    let panels = job.b.panels.as_ptr();
    for kk in 0..k {
        let mut bv = [[0.0f32; PANEL]; NP];
        for (p, v) in bv.iter_mut().enumerate() {
            // SAFETY: panel p0 + p < n_panels and kk < k, so the PANEL values starting here lie
            // inside `panels` (length n_panels * k * PANEL).
            *v = unsafe { *(panels.add(((p0 + p) * k + kk) * PANEL) as *const [f32; PANEL]) };
        }
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: r0 + i < m and kk < k <= lda; gemm_packed_into checked that
            // a.len() >= (m - 1) * lda + k.
            let av = unsafe { *a.add((r0 + i) * job.lda + kk) };
            for (accp, bp) in row.iter_mut().zip(bv.iter()) {
                for (x, &y) in accp.iter_mut().zip(bp.iter()) {
                    *x = fmadd::<FMA>(av, y, *x);
                }
            }
        }
    }
    if job.relu {
        for x in acc.iter_mut().flatten().flatten() {
            // NaN is kept (NaN > 0 is false), as the relu kernel does.
            *x = if *x > 0.0 || x.is_nan() { *x } else { 0.0 };
        }
    }
    let cols = (job.b.n - p0 * PANEL).min(NP * PANEL);
    let OutStrides {
        row_stride,
        col_stride,
    } = job.strides;
    for (i, row) in acc.iter().enumerate() {
        let base = (r0 + i) * row_stride + p0 * PANEL * col_stride;
        for (j, &v) in row.iter().flatten().take(cols).enumerate() {
            // SAFETY: row r0 + i < m and column p0 * PANEL + j < n, and gemm_packed_into
            // checked c.len() > (m - 1) * row_stride + (n - 1) * col_stride. Only this call
            // writes through `c` (it came from a unique borrow).
            unsafe { *c.add(base + j * col_stride) = v };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Straightforward f64 reference: C = A W^T + b.
    fn reference(a: &Array2<f32>, w: &Array2<f32>, b: &[f32], relu: bool) -> Array2<f64> {
        let (m, n) = (a.nrows(), w.nrows());
        Array2::from_shape_fn((m, n), |(i, j)| {
            let mut s = f64::from(b[j]);
            for kk in 0..a.ncols() {
                s += f64::from(a[[i, kk]]) * f64::from(w[[j, kk]]);
            }
            if relu {
                s.max(0.0)
            } else {
                s
            }
        })
    }

    fn filled(rows: usize, cols: usize, seed: u32) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            let h = (i as u32 * 7919 + j as u32 * 104_729 + seed * 31).wrapping_mul(2_654_435_761);
            (h >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
    }

    /// This CPU's variants, best first (the baseline always runs).
    fn supported_isas() -> Vec<Isa> {
        match Isa::best() {
            Isa::Avx512 => vec![Isa::Avx512, Isa::Avx2Fma, Isa::Baseline],
            Isa::Avx2Fma => vec![Isa::Avx2Fma, Isa::Baseline],
            Isa::Baseline => vec![Isa::Baseline],
        }
    }

    #[test]
    fn matches_reference_on_ragged_shapes() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (1, 784, 128),
            (64, 784, 128),
            (3, 5, 17),
            (9, 33, 40),
            (17, 9, 4),
            (8, 16, 32),
            (13, 2, 70),
        ] {
            for relu in [false, true] {
                let a = filled(m, k, 1);
                let w = filled(n, k, 2);
                let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.01 - 0.1).collect();
                let packed =
                    PackedMatrix::from_rows(w.view(), Some(ArrayView1::from(&bias))).unwrap();
                let expected = reference(&a, &w, &bias, relu);
                for isa in supported_isas() {
                    let mut c = vec![f32::NAN; m * n];
                    let job = Job {
                        m,
                        a: a.as_slice().unwrap(),
                        lda: k,
                        b: &packed,
                        relu,
                        c: c.as_mut_ptr(),
                        strides: OutStrides::row_major(n),
                    };
                    run(job, isa);
                    for i in 0..m {
                        for j in 0..n {
                            let got = f64::from(c[i * n + j]);
                            let tol = 1e-5 * (k as f64).sqrt() + 1e-6;
                            assert!(
                                (got - expected[[i, j]]).abs() <= tol,
                                "{isa:?} m={m} k={k} n={n} relu={relu} ({i},{j}): {got} vs {}",
                                expected[[i, j]]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn writes_through_column_strides_and_leaves_the_rest() {
        // C transposed: element (i, j) at j * m + i, as a convolution writes channel planes.
        let (m, k, n) = (5, 3, 2);
        let a = filled(m, k, 3);
        let w = filled(n, k, 4);
        let packed = PackedMatrix::from_rows(w.view(), None).unwrap();
        let mut c = vec![7.0f32; m * n + 1];
        gemm_packed_into(
            m,
            a.as_slice().unwrap(),
            k,
            &packed,
            Epilogue::None,
            &mut c,
            OutStrides {
                row_stride: 1,
                col_stride: m,
            },
        )
        .unwrap();
        let expected = reference(&a, &w, &[0.0; 2], false);
        for i in 0..m {
            for j in 0..n {
                assert!((f64::from(c[j * m + i]) - expected[[i, j]]).abs() < 1e-6);
            }
        }
        assert_eq!(c[m * n], 7.0, "the value past C is untouched");
    }

    #[test]
    fn relu_keeps_nan() {
        let packed = PackedMatrix::from_rows(Array2::from_elem((1, 1), 1.0).view(), None).unwrap();
        let mut c = [0.0f32; 3];
        let a = [f32::NAN, -2.0, 3.0];
        gemm_packed_into(
            3,
            &a,
            1,
            &packed,
            Epilogue::Relu,
            &mut c,
            OutStrides::row_major(1),
        )
        .unwrap();
        assert!(c[0].is_nan());
        assert_eq!(&c[1..], &[0.0, 3.0]);
    }

    #[test]
    fn short_buffers_are_refused() {
        let packed = PackedMatrix::from_rows(Array2::zeros((4, 3)).view(), None).unwrap();
        let mut c = [0.0f32; 8];
        let err = gemm_packed_into(
            2,
            &[0.0; 5],
            3,
            &packed,
            Epilogue::None,
            &mut c,
            OutStrides::row_major(4),
        )
        .unwrap_err();
        assert_eq!(err.code(), "TL0501");
        let err = gemm_packed_into(
            2,
            &[0.0; 6],
            3,
            &packed,
            Epilogue::None,
            &mut c[..7],
            OutStrides::row_major(4),
        )
        .unwrap_err();
        assert_eq!(err.code(), "TL0501");
    }
}
