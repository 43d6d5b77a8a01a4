//! Single-precision GEMM against a right operand packed once: `C = A B + bias`, optionally
//! followed by relu, written through arbitrary output strides, with no allocation. A second
//! form ([`gemm_rows_into`]) puts C's columns on the vector lanes instead, for a convolution
//! with few output channels and many positions.
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

/// Where a matrix lives in its buffer: element `(i, j)` at `i * row_stride + j * col_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixStrides {
    pub row_stride: usize,
    pub col_stride: usize,
}

impl MatrixStrides {
    /// A row-major `[m, n]` matrix.
    pub fn row_major(n: usize) -> Self {
        MatrixStrides {
            row_stride: n,
            col_stride: 1,
        }
    }

    /// Values a buffer needs to hold an `[m, n]` matrix (m, n >= 1); None on overflow.
    fn extent(&self, m: usize, n: usize) -> Option<usize> {
        let rows = (m - 1).checked_mul(self.row_stride)?;
        let cols = (n - 1).checked_mul(self.col_stride)?;
        rows.checked_add(cols)?.checked_add(1)
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
    strides: MatrixStrides,
) -> KernelResult<()> {
    if lda < b.k {
        return Err(KernelError::shape(
            "gemm",
            format!("leading dimension {lda} is smaller than k = {}", b.k),
        ));
    }
    gemm_packed_strided_into(
        m,
        a,
        MatrixStrides {
            row_stride: lda,
            col_stride: 1,
        },
        b,
        epilogue,
        c,
        strides,
    )
}

/// [`gemm_packed_into`] with A read through strides too: `A[i, kk]` at
/// `i * a_strides.row_stride + kk * a_strides.col_stride` (a k-major im2col, for one).
pub fn gemm_packed_strided_into(
    m: usize,
    a: &[f32],
    a_strides: MatrixStrides,
    b: &PackedMatrix,
    epilogue: Epilogue,
    c: &mut [f32],
    strides: MatrixStrides,
) -> KernelResult<()> {
    const OP: &str = "gemm";
    if m == 0 || b.n == 0 {
        return Ok(());
    }
    if b.k > 0 {
        let a_needed = a_strides
            .extent(m, b.k)
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
    }
    let c_needed = strides
        .extent(m, b.n)
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
        lda: a_strides.row_stride,
        ka: a_strides.col_stride,
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
    /// A's row stride and k stride.
    lda: usize,
    ka: usize,
    b: &'a PackedMatrix,
    relu: bool,
    /// From the caller's unique borrow of C, bounds checked against m, n and `strides`.
    c: *mut f32,
    strides: MatrixStrides,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(job: Job) {
    // 32 vector registers: 8 rows x 2 panels of accumulators (2 rows x 8 panels when m <= 2).
    drive::<x86::Avx512, 8, 2, 8>(job)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(job: Job) {
    // 16 vector registers, a panel is two of them: 4 rows x 1 panel of accumulators
    // (2 rows x 2 panels when m <= 2).
    drive::<x86::Avx2, 4, 1, 2>(job)
}

fn run_baseline(job: Job) {
    // SAFETY: the portable tile needs no CPU feature.
    unsafe { drive::<Portable, 4, 1, 2>(job) }
}

/// A micro-kernel: computes rows `r0..r0 + R` of C for panels `p0..p0 + NP`.
///
/// # Safety
/// `job` was validated by [`gemm_packed_into`], `r0 + R <= m`, `p0 + NP <= ceil(n / PANEL)`,
/// and the CPU has the implementation's features.
trait Tile {
    unsafe fn tile<const R: usize, const NP: usize>(job: &Job, r0: usize, p0: usize);
}

/// Tiles C: column blocks of `NP` panels outside (a block of B stays in cache), row blocks of
/// `MR` inside. With one or two rows (batch 1), blocks of `WIDE` panels keep enough independent
/// FMA chains in flight.
///
/// # Safety
/// As [`Tile::tile`]: a validated job on a CPU with `K`'s features.
#[inline(always)]
unsafe fn drive<K: Tile, const MR: usize, const NP: usize, const WIDE: usize>(job: Job) {
    let n_panels = job.b.n.div_ceil(PANEL);
    if job.m <= 2 {
        columns::<K, MR, WIDE>(&job, n_panels);
    } else {
        columns::<K, MR, NP>(&job, n_panels);
    }
}

#[inline(always)]
unsafe fn columns<K: Tile, const MR: usize, const NP: usize>(job: &Job, n_panels: usize) {
    let mut p0 = 0;
    while p0 < n_panels {
        let np = (n_panels - p0).min(NP);
        if np == NP {
            rows::<K, MR, NP>(job, p0);
        } else {
            for p in p0..p0 + np {
                rows::<K, MR, 1>(job, p);
            }
        }
        p0 += np;
    }
}

#[inline(always)]
unsafe fn rows<K: Tile, const MR: usize, const NP: usize>(job: &Job, p0: usize) {
    let mut r0 = 0;
    while r0 < job.m {
        match job.m - r0 {
            r if r >= MR => K::tile::<MR, NP>(job, r0, p0),
            1 => K::tile::<1, NP>(job, r0, p0),
            2 => K::tile::<2, NP>(job, r0, p0),
            3 => K::tile::<3, NP>(job, r0, p0),
            4 => K::tile::<4, NP>(job, r0, p0),
            5 => K::tile::<5, NP>(job, r0, p0),
            6 => K::tile::<6, NP>(job, r0, p0),
            _ => K::tile::<7, NP>(job, r0, p0),
        }
        r0 += MR.min(job.m - r0);
    }
}

/// Writes one row of a tile (`vals`: `NP * PANEL` values from column `p0 * PANEL`), only the
/// columns below n.
///
/// # Safety
/// `row < m` and the job was validated.
#[inline(always)]
unsafe fn store_row(job: &Job, row: usize, p0: usize, vals: &[f32]) {
    let cols = (job.b.n - p0 * PANEL).min(vals.len());
    let MatrixStrides {
        row_stride,
        col_stride,
    } = job.strides;
    let base = row * row_stride + p0 * PANEL * col_stride;
    for (j, &v) in vals[..cols].iter().enumerate() {
        // SAFETY: row < m and column p0 * PANEL + j < n; gemm_packed_into checked
        // c.len() > (m - 1) * row_stride + (n - 1) * col_stride.
        unsafe { *job.c.add(base + j * col_stride) = v };
    }
}

/// Whether panels `p0..p0 + np` of a row can be stored with whole-vector writes.
#[inline(always)]
fn contiguous_full(job: &Job, p0: usize, np: usize) -> bool {
    job.strides.col_stride == 1 && (p0 + np) * PANEL <= job.b.n
}

/// The relu of the epilogue: NaN is kept (NaN > 0 is false), as the relu kernel does.
#[inline(always)]
fn relu(x: f32) -> f32 {
    if x > 0.0 || x.is_nan() {
        x
    } else {
        0.0
    }
}

/// Plain Rust over fixed-size arrays (SSE2 on x86_64, whatever the target has elsewhere).
struct Portable;

impl Tile for Portable {
    #[inline(always)]
    unsafe fn tile<const R: usize, const NP: usize>(job: &Job, r0: usize, p0: usize) {
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
        for kk in 0..k {
            for p in 0..NP {
                let off = ((p0 + p) * k + kk) * PANEL;
                let bv: &[f32; PANEL] = job.b.panels[off..off + PANEL]
                    .try_into()
                    .expect("whole panel");
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = job.a[(r0 + i) * job.lda + kk * job.ka];
                    for (x, &y) in row[p].iter_mut().zip(bv) {
                        *x += av * y;
                    }
                }
            }
        }
        for (i, row) in acc.iter_mut().enumerate() {
            if job.relu {
                row.iter_mut().flatten().for_each(|x| *x = relu(*x));
            }
            // SAFETY: r0 + i < m (the caller's contract).
            unsafe { store_row(job, r0 + i, p0, row.as_flattened()) };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Columns on the vector lanes: `C = epilogue(W B + bias)` with a small row-major left operand
// W (a convolution weight `[C_out, K]`), B's rows read in place from a grid of offsets, and
// one bias per row. A convolution with few output channels but many output positions fills
// the lanes with positions this way, and C is `[C_out, positions]`: the NCHW channel planes.
// ---------------------------------------------------------------------------------------------

/// The left operand of [`gemm_rows_into`]: `values` is `[m, k]` row-major, `bias` has `m`
/// values (one per row of C).
#[derive(Debug, Clone, Copy)]
pub struct WeightRows<'a> {
    pub values: &'a [f32],
    pub m: usize,
    pub k: usize,
    pub bias: &'a [f32],
}

/// The right operand of [`gemm_rows_into`]: row `kk = (i0 * counts[1] + i1) * counts[2] + i2`
/// of B is the `n` values of `data` from `i0 * strides[0] + i1 * strides[1] + i2 *
/// strides[2]`. A k-major im2col is the grid `[C, kh, kw]` with strides `[kh kw n, kw n, n]`;
/// a stride-1 convolution reads shifted windows of its input planes directly.
#[derive(Debug, Clone, Copy)]
pub struct RowGrid<'a> {
    pub data: &'a [f32],
    pub counts: [usize; 3],
    pub strides: [usize; 3],
    /// Columns of B (and of C).
    pub n: usize,
}

/// Where [`gemm_rows_into`] stores C: row `i` starts at `i * row_stride`; column `j` is kept
/// when `j % period < keep` and stored at `(j / period) * keep + j % period` of its row. With
/// `period = keep = n` every column is stored in place; a stride-1 convolution computes
/// `period` (the padded input width) columns per output row and keeps the first `keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowOutput {
    pub row_stride: usize,
    pub period: usize,
    pub keep: usize,
}

impl RowOutput {
    /// Every column of a row-major `[m, n]` C, rows `row_stride` apart.
    pub fn dense(row_stride: usize, n: usize) -> Self {
        RowOutput {
            row_stride,
            period: n.max(1),
            keep: n.max(1),
        }
    }

    /// Values stored per row for `n` columns.
    pub fn stored(&self, n: usize) -> usize {
        (n / self.period) * self.keep + (n % self.period).min(self.keep)
    }
}

/// `C = epilogue(W B + bias)` with B's columns on the vector lanes (see [`RowGrid`],
/// [`RowOutput`]). Allocation-free.
pub fn gemm_rows_into(
    w: WeightRows,
    b: RowGrid,
    epilogue: Epilogue,
    c: &mut [f32],
    out: RowOutput,
) -> KernelResult<()> {
    const OP: &str = "gemm";
    let (m, n, k) = (w.m, b.n, w.k);
    if w.values.len() != m.saturating_mul(k) || w.bias.len() != m {
        return Err(KernelError::shape(
            OP,
            format!(
                "weight holds {} values and bias {} for [{m}, {k}]",
                w.values.len(),
                w.bias.len()
            ),
        ));
    }
    let rows = b.counts.iter().try_fold(1usize, |a, &c| a.checked_mul(c));
    if rows != Some(k) {
        return Err(KernelError::shape(
            OP,
            format!("B's row grid {:?} does not have k = {k} rows", b.counts),
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k > 0 {
        let last_row = b
            .counts
            .iter()
            .zip(&b.strides)
            .try_fold(0usize, |a, (&c, &s)| a.checked_add((c - 1).checked_mul(s)?));
        let needed = last_row.and_then(|r| r.checked_add(n));
        if needed.is_none_or(|needed| needed > b.data.len()) {
            return Err(KernelError::shape(
                OP,
                format!(
                    "B holds {} values, its last row ends past them",
                    b.data.len()
                ),
            ));
        }
    }
    if out.period == 0 || out.keep == 0 || out.keep > out.period {
        return Err(KernelError::argument(
            OP,
            format!("output keeps {} of every {} columns", out.keep, out.period),
        ));
    }
    let stored = out.stored(n);
    let needed = (m - 1)
        .checked_mul(out.row_stride)
        .and_then(|v| v.checked_add(stored));
    if out.row_stride < stored || needed.is_none_or(|needed| needed > c.len()) {
        return Err(KernelError::shape(
            OP,
            format!(
                "output holds {} values with row stride {}, [{m}, {stored}] does not fit",
                c.len(),
                out.row_stride
            ),
        ));
    }
    let job = RowJob {
        m,
        n,
        k,
        w: w.values,
        bias: w.bias,
        b,
        relu: epilogue == Epilogue::Relu,
        c: c.as_mut_ptr(),
        out,
        dense: out.period >= n || out.keep == out.period,
    };
    run_rows(job, Isa::best());
    Ok(())
}

/// One validated [`gemm_rows_into`] call.
struct RowJob<'a> {
    m: usize,
    n: usize,
    k: usize,
    w: &'a [f32],
    bias: &'a [f32],
    b: RowGrid<'a>,
    relu: bool,
    /// From the caller's unique borrow of C, bounds checked against m, n and `out`.
    c: *mut f32,
    out: RowOutput,
    /// Every column is stored in place.
    dense: bool,
}

impl RowJob<'_> {
    /// Stores `vals` (columns `j..j + vals.len()` of row `row`), only the kept columns.
    ///
    /// # Safety
    /// `row < m`, `j + vals.len() <= n`, and the job was validated.
    #[inline(always)]
    unsafe fn store_lanes(&self, row: usize, j: usize, vals: &[f32]) {
        let base = row * self.out.row_stride;
        let (period, keep) = (self.out.period, self.out.keep);
        let (mut at, mut col) = ((j / period) * keep, j % period);
        for &v in vals {
            if col < keep {
                // SAFETY: a kept column below n lands below out.stored(n) <= row_stride,
                // and (m - 1) * row_stride + stored <= c.len() was checked.
                unsafe { *self.c.add(base + at + col) = v };
            }
            col += 1;
            if col == period {
                col = 0;
                at += keep;
            }
        }
    }
}

/// Runs `$body` for every row of B with `$kk` its index and `$off` where it starts in
/// `b.data` (a macro, not a closure, so the loop compiles inside each target-feature tile).
macro_rules! for_each_b_row {
    ($job:expr, |$kk:ident, $off:ident| $body:block) => {{
        let [c0, c1, c2] = $job.b.counts;
        let [s0, s1, s2] = $job.b.strides;
        let mut $kk = 0usize;
        for i0 in 0..c0 {
            for i1 in 0..c1 {
                let mut $off = i0 * s0 + i1 * s1;
                for _ in 0..c2 {
                    $body
                    $kk += 1;
                    $off += s2;
                }
            }
        }
    }};
}

fn run_rows(job: RowJob, isa: Isa) {
    match isa {
        // SAFETY: Isa::best saw AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { rows_avx512(job) },
        // SAFETY: Isa::best saw AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { rows_avx2(job) },
        _ => {
            // SAFETY: the portable tile needs no CPU feature.
            unsafe { drive_rows::<Portable, 4, 2, PANEL>(&job) }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn rows_avx512(job: RowJob) {
    // 4 rows x 4 vectors of 16 columns: 16 accumulators.
    unsafe { drive_rows::<x86::Avx512, 4, 4, 16>(&job) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_avx2(job: RowJob) {
    // 4 rows x 2 vectors of 8 columns: 8 accumulators.
    unsafe { drive_rows::<x86::Avx2, 4, 2, 8>(&job) }
}

/// A micro-kernel of [`gemm_rows_into`]: rows `r0..r0 + R` of C, columns `j0..` in `NV`
/// vectors, the last one holding the remaining `1..=lanes` columns.
///
/// # Safety
/// `job` was validated, `r0 + R <= m`, `j0 < n`, `n - j0 <= NV * lanes` and more than
/// `(NV - 1) * lanes`, and the CPU has the implementation's features.
trait RowTile {
    unsafe fn rows_tile<const R: usize, const NV: usize>(job: &RowJob, r0: usize, j0: usize);
}

/// Column blocks of up to `NV` vectors of `L` lanes outside, row blocks of `MR` inside (one
/// block of B is reused by every row block).
///
/// # Safety
/// A validated job on a CPU with `K`'s features; `MR <= 4`, `NV <= 4`.
#[inline(always)]
unsafe fn drive_rows<K: RowTile, const MR: usize, const NV: usize, const L: usize>(job: &RowJob) {
    let mut j0 = 0;
    while j0 < job.n {
        let cols = (job.n - j0).min(NV * L);
        // SAFETY (each arm): the block's columns need exactly that many vectors.
        unsafe {
            match cols.div_ceil(L) {
                1 => row_blocks::<K, MR, 1>(job, j0),
                2 => row_blocks::<K, MR, 2>(job, j0),
                3 => row_blocks::<K, MR, 3>(job, j0),
                _ => row_blocks::<K, MR, 4>(job, j0),
            }
        }
        j0 += cols;
    }
}

#[inline(always)]
unsafe fn row_blocks<K: RowTile, const MR: usize, const NV: usize>(job: &RowJob, j0: usize) {
    let mut r0 = 0;
    while r0 < job.m {
        let r = (job.m - r0).min(MR);
        // SAFETY: r0 + r <= m.
        unsafe {
            match r {
                1 => K::rows_tile::<1, NV>(job, r0, j0),
                2 => K::rows_tile::<2, NV>(job, r0, j0),
                3 => K::rows_tile::<3, NV>(job, r0, j0),
                _ => K::rows_tile::<4, NV>(job, r0, j0),
            }
        }
        r0 += r;
    }
}

impl RowTile for Portable {
    #[inline(always)]
    unsafe fn rows_tile<const R: usize, const NV: usize>(job: &RowJob, r0: usize, j0: usize) {
        let cols = (job.n - j0).min(NV * PANEL);
        let mut acc = [[[0.0f32; PANEL]; NV]; R];
        for (i, row) in acc.iter_mut().enumerate() {
            *row = [[job.bias[r0 + i]; PANEL]; NV];
        }
        for_each_b_row!(job, |kk, off| {
            let src = &job.b.data[off + j0..off + j0 + cols];
            for (i, row) in acc.iter_mut().enumerate() {
                let av = job.w[(r0 + i) * job.k + kk];
                for (x, &y) in row.as_flattened_mut().iter_mut().zip(src) {
                    *x += av * y;
                }
            }
        });
        for (i, row) in acc.iter_mut().enumerate() {
            let vals = &mut row.as_flattened_mut()[..cols];
            if job.relu {
                vals.iter_mut().for_each(|x| *x = relu(*x));
            }
            // SAFETY: r0 + i < m and j0 + cols <= n (the caller's contract).
            unsafe { job.store_lanes(r0 + i, j0, vals) };
        }
    }
}

// The AVX-512 intrinsics and `target_feature(enable = "avx512f")` are stable since Rust 1.89;
// the workspace's rust-version (1.88) must be raised to 1.89 for this module.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    //! Explicit AVX-512 and AVX2 tiles: accumulators in registers, B read once per k step,
    //! A broadcast from memory.

    use super::{contiguous_full, store_row, Job, RowJob, RowTile, Tile, PANEL};
    use std::arch::x86_64::*;

    pub(super) struct Avx512;

    impl Tile for Avx512 {
        #[inline(always)]
        unsafe fn tile<const R: usize, const NP: usize>(job: &Job, r0: usize, p0: usize) {
            // SAFETY: forwarded contract (the CPU has AVX-512F).
            unsafe { tile_avx512::<R, NP>(job, r0, p0) }
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile_avx512<const R: usize, const NP: usize>(job: &Job, r0: usize, p0: usize) {
        let k = job.b.k;
        let a = job.a.as_ptr();
        let panels = job.b.panels.as_ptr();
        let bias = job.b.bias.as_ptr();
        // SAFETY (all pointer reads below): panels p0..p0 + NP exist, each holds k * PANEL
        // values and PANEL bias values; rows r0..r0 + R of A hold k values (row stride lda, k stride ka).
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); NP]; R];
            for p in 0..NP {
                let b = _mm512_loadu_ps(bias.add((p0 + p) * PANEL));
                for row in acc.iter_mut() {
                    row[p] = b;
                }
            }
            for kk in 0..k {
                let mut bv = [_mm512_setzero_ps(); NP];
                for (p, v) in bv.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(panels.add(((p0 + p) * k + kk) * PANEL));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add((r0 + i) * job.lda + kk * job.ka));
                    for p in 0..NP {
                        row[p] = _mm512_fmadd_ps(av, bv[p], row[p]);
                    }
                }
            }
            let zero = _mm512_setzero_ps();
            let full = contiguous_full(job, p0, NP);
            for (i, row) in acc.iter_mut().enumerate() {
                if job.relu {
                    for v in row.iter_mut() {
                        // max(0, x) returns x when x is NaN: NaN is kept.
                        *v = _mm512_max_ps(zero, *v);
                    }
                }
                let base = (r0 + i) * job.strides.row_stride + p0 * PANEL;
                if full {
                    for (p, v) in row.iter().enumerate() {
                        _mm512_storeu_ps(job.c.add(base + p * PANEL), *v);
                    }
                } else {
                    let mut vals = [[0.0f32; PANEL]; NP];
                    for (dst, v) in vals.iter_mut().zip(row.iter()) {
                        _mm512_storeu_ps(dst.as_mut_ptr(), *v);
                    }
                    store_row(job, r0 + i, p0, vals.as_flattened());
                }
            }
        }
    }

    pub(super) struct Avx2;

    impl Tile for Avx2 {
        #[inline(always)]
        unsafe fn tile<const R: usize, const NP: usize>(job: &Job, r0: usize, p0: usize) {
            // SAFETY: forwarded contract (the CPU has AVX2 and FMA).
            unsafe { tile_avx2::<R, NP>(job, r0, p0) }
        }
    }

    /// A panel is two 8-lane registers.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile_avx2<const R: usize, const NP: usize>(job: &Job, r0: usize, p0: usize) {
        let k = job.b.k;
        let a = job.a.as_ptr();
        let panels = job.b.panels.as_ptr();
        let bias = job.b.bias.as_ptr();
        // SAFETY: as in tile_avx512.
        unsafe {
            let mut acc = [[[_mm256_setzero_ps(); 2]; NP]; R];
            for p in 0..NP {
                let lo = _mm256_loadu_ps(bias.add((p0 + p) * PANEL));
                let hi = _mm256_loadu_ps(bias.add((p0 + p) * PANEL + 8));
                for row in acc.iter_mut() {
                    row[p] = [lo, hi];
                }
            }
            for kk in 0..k {
                let mut bv = [[_mm256_setzero_ps(); 2]; NP];
                for (p, v) in bv.iter_mut().enumerate() {
                    let src = panels.add(((p0 + p) * k + kk) * PANEL);
                    *v = [_mm256_loadu_ps(src), _mm256_loadu_ps(src.add(8))];
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_ps(*a.add((r0 + i) * job.lda + kk * job.ka));
                    for p in 0..NP {
                        row[p][0] = _mm256_fmadd_ps(av, bv[p][0], row[p][0]);
                        row[p][1] = _mm256_fmadd_ps(av, bv[p][1], row[p][1]);
                    }
                }
            }
            let zero = _mm256_setzero_ps();
            let full = contiguous_full(job, p0, NP);
            for (i, row) in acc.iter_mut().enumerate() {
                if job.relu {
                    for v in row.iter_mut().flatten() {
                        *v = _mm256_max_ps(zero, *v);
                    }
                }
                let base = (r0 + i) * job.strides.row_stride + p0 * PANEL;
                if full {
                    for (h, v) in row.iter().flatten().enumerate() {
                        _mm256_storeu_ps(job.c.add(base + h * 8), *v);
                    }
                } else {
                    let mut vals = [[[0.0f32; 8]; 2]; NP];
                    for (dst, v) in vals.iter_mut().flatten().zip(row.iter().flatten()) {
                        _mm256_storeu_ps(dst.as_mut_ptr(), *v);
                    }
                    store_row(job, r0 + i, p0, vals.as_flattened().as_flattened());
                }
            }
        }
    }

    impl RowTile for Avx512 {
        #[inline(always)]
        unsafe fn rows_tile<const R: usize, const NV: usize>(job: &RowJob, r0: usize, j0: usize) {
            // SAFETY: forwarded contract (the CPU has AVX-512F).
            unsafe { rows_tile_avx512::<R, NV>(job, r0, j0) }
        }
    }

    /// Mask of the first `lanes` (0..=16) lanes.
    #[inline(always)]
    fn first_lanes(lanes: u32) -> __mmask16 {
        if lanes >= 16 {
            0xffff
        } else {
            (1u16 << lanes) - 1
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn rows_tile_avx512<const R: usize, const NV: usize>(
        job: &RowJob,
        r0: usize,
        j0: usize,
    ) {
        let cols = (job.n - j0).min(NV * 16);
        let lanes = |v: usize| (cols - v * 16).min(16);
        let data = job.b.data.as_ptr();
        let w = job.w.as_ptr();
        // SAFETY (all pointer reads and writes below): rows r0..r0 + R of W hold k values and
        // have a bias; every row of B holds columns j0..j0 + cols (validated grid), read
        // under masks of those columns; C is written under masks of the kept columns of rows
        // r0..r0 + R (see RowJob::store_lanes).
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); NV]; R];
            for (i, row) in acc.iter_mut().enumerate() {
                *row = [_mm512_set1_ps(*job.bias.as_ptr().add(r0 + i)); NV];
            }
            // Plain loops, not array::from_fn: its closure would not inline into this
            // target-feature function.
            let mut loads = [0 as __mmask16; NV];
            for (v, mask) in loads.iter_mut().enumerate() {
                *mask = first_lanes(lanes(v) as u32);
            }
            for_each_b_row!(job, |kk, off| {
                let src = data.add(off + j0);
                let mut bv = [_mm512_setzero_ps(); NV];
                for (v, b) in bv.iter_mut().enumerate() {
                    *b = _mm512_maskz_loadu_ps(loads[v], src.add(v * 16));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*w.add((r0 + i) * job.k + kk));
                    for v in 0..NV {
                        row[v] = _mm512_fmadd_ps(av, bv[v], row[v]);
                    }
                }
            });
            // Per vector: the lanes kept and where the first of them goes in its row.
            let (period, keep) = (job.out.period, job.out.keep);
            let mut kept = [(0 as __mmask16, 0usize); NV];
            for (v, slot) in kept.iter_mut().enumerate() {
                let j = j0 + v * 16;
                if job.dense {
                    *slot = (loads[v], j);
                    continue;
                }
                let mut mask = 0u16;
                let mut col = j % period;
                for lane in 0..lanes(v) {
                    if col < keep {
                        mask |= 1 << lane;
                    }
                    col = if col + 1 == period { 0 } else { col + 1 };
                }
                *slot = (mask, (j / period) * keep + (j % period).min(keep));
            }
            let zero = _mm512_setzero_ps();
            for (i, row) in acc.iter_mut().enumerate() {
                let base = job.c.add((r0 + i) * job.out.row_stride);
                for (v, val) in row.iter_mut().enumerate() {
                    if job.relu {
                        // max(0, x) returns x when x is NaN: NaN is kept.
                        *val = _mm512_max_ps(zero, *val);
                    }
                    let (mask, at) = kept[v];
                    if job.dense {
                        _mm512_mask_storeu_ps(base.add(at), mask, *val);
                    } else {
                        // The kept lanes, packed to the front, are consecutive in the row.
                        let packed = _mm512_maskz_compress_ps(mask, *val);
                        _mm512_mask_storeu_ps(base.add(at), first_lanes(mask.count_ones()), packed);
                    }
                }
            }
        }
    }

    impl RowTile for Avx2 {
        #[inline(always)]
        unsafe fn rows_tile<const R: usize, const NV: usize>(job: &RowJob, r0: usize, j0: usize) {
            // SAFETY: forwarded contract (the CPU has AVX2 and FMA).
            unsafe { rows_tile_avx2::<R, NV>(job, r0, j0) }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn rows_tile_avx2<const R: usize, const NV: usize>(job: &RowJob, r0: usize, j0: usize) {
        let cols = (job.n - j0).min(NV * 8);
        let lanes = |v: usize| (cols - v * 8).min(8);
        let data = job.b.data.as_ptr();
        let w = job.w.as_ptr();
        // SAFETY: as in rows_tile_avx512 (masked loads; stores through store_lanes unless dense).
        unsafe {
            let lane_ids = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mut masks = [_mm256_setzero_si256(); NV];
            for (v, mask) in masks.iter_mut().enumerate() {
                *mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes(v) as i32), lane_ids);
            }
            let mut acc = [[_mm256_setzero_ps(); NV]; R];
            for (i, row) in acc.iter_mut().enumerate() {
                *row = [_mm256_set1_ps(*job.bias.as_ptr().add(r0 + i)); NV];
            }
            for_each_b_row!(job, |kk, off| {
                let src = data.add(off + j0);
                let mut bv = [_mm256_setzero_ps(); NV];
                for (v, b) in bv.iter_mut().enumerate() {
                    *b = _mm256_maskload_ps(src.add(v * 8), masks[v]);
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_ps(*w.add((r0 + i) * job.k + kk));
                    for v in 0..NV {
                        row[v] = _mm256_fmadd_ps(av, bv[v], row[v]);
                    }
                }
            });
            let zero = _mm256_setzero_ps();
            for (i, row) in acc.iter_mut().enumerate() {
                for (v, val) in row.iter_mut().enumerate() {
                    if job.relu {
                        *val = _mm256_max_ps(zero, *val);
                    }
                    let j = j0 + v * 8;
                    if job.dense {
                        let dst = job.c.add((r0 + i) * job.out.row_stride + j);
                        _mm256_maskstore_ps(dst, masks[v], *val);
                    } else {
                        let mut vals = [0.0f32; 8];
                        _mm256_storeu_ps(vals.as_mut_ptr(), *val);
                        job.store_lanes(r0 + i, j, &vals[..lanes(v)]);
                    }
                }
            }
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
                        ka: 1,
                        b: &packed,
                        relu,
                        c: c.as_mut_ptr(),
                        strides: MatrixStrides::row_major(n),
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
            MatrixStrides {
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
            MatrixStrides::row_major(1),
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
            MatrixStrides::row_major(4),
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
            MatrixStrides::row_major(4),
        )
        .unwrap_err();
        assert_eq!(err.code(), "TL0501");
    }

    /// f64 reference of gemm_rows_into: C[i, j] = bias[i] + sum_kk W[i, kk] B[kk, j], then the
    /// kept columns compacted.
    fn rows_reference(w: &WeightRows, b: &RowGrid, relu: bool) -> Vec<Vec<f64>> {
        let [c0, c1, c2] = b.counts;
        let [s0, s1, s2] = b.strides;
        let starts: Vec<usize> = (0..c0)
            .flat_map(|i0| (0..c1).flat_map(move |i1| (0..c2).map(move |i2| (i0, i1, i2))))
            .map(|(i0, i1, i2)| i0 * s0 + i1 * s1 + i2 * s2)
            .collect();
        (0..w.m)
            .map(|i| {
                (0..b.n)
                    .map(|j| {
                        let mut s = f64::from(w.bias[i]);
                        for (kk, &start) in starts.iter().enumerate() {
                            s += f64::from(w.values[i * w.k + kk]) * f64::from(b.data[start + j]);
                        }
                        if relu {
                            s.max(0.0)
                        } else {
                            s
                        }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn rows_gemm_matches_reference_on_ragged_shapes_and_column_maps() {
        // (m, counts, n, period, keep): im2col-like and shifted-window grids, odd sizes, tails
        // of every width, more rows than a tile.
        let cases: &[(usize, [usize; 3], usize, usize, usize)] = &[
            (1, [1, 1, 1], 1, 1, 1),
            (4, [1, 3, 3], 46, 8, 6),
            (3, [2, 3, 3], 36, 36, 36),
            (5, [3, 2, 2], 65, 65, 65),
            (9, [1, 1, 5], 17, 5, 3),
            (4, [2, 1, 3], 130, 30, 28),
            (2, [1, 2, 1], 7, 7, 7),
            (7, [4, 1, 1], 31, 4, 4),
            (4, [0, 3, 3], 20, 20, 20),
        ];
        for &(m, counts, n, period, keep) in cases {
            let k: usize = counts.iter().product();
            // Rows of B overlap (shifted windows), as a stride-1 convolution reads them.
            let strides = [counts[1] * counts[2] * 3 + n, counts[2] + 2, 1];
            let len = (0..3)
                .map(|d| counts[d].saturating_sub(1) * strides[d])
                .sum::<usize>()
                + n;
            let data: Vec<f32> = filled(1, len, 5).into_raw_vec_and_offset().0;
            let values: Vec<f32> = filled(m, k, 6).into_raw_vec_and_offset().0;
            let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.25 - 0.5).collect();
            let w = WeightRows {
                values: &values,
                m,
                k,
                bias: &bias,
            };
            let b = RowGrid {
                data: &data,
                counts,
                strides,
                n,
            };
            let out = RowOutput {
                row_stride: 0,
                period,
                keep,
            };
            let stored = out.stored(n);
            let out = RowOutput {
                row_stride: stored + 2,
                ..out
            };
            for relu in [false, true] {
                let expected = rows_reference(&w, &b, relu);
                for isa in supported_isas() {
                    let mut c = vec![f32::NAN; (m - 1) * out.row_stride + stored + 1];
                    let job = RowJob {
                        m,
                        n,
                        k,
                        w: w.values,
                        bias: w.bias,
                        b,
                        relu,
                        c: c.as_mut_ptr(),
                        out,
                        dense: period >= n || keep == period,
                    };
                    run_rows(job, isa);
                    for (i, want_row) in expected.iter().enumerate() {
                        let kept = (0..n).filter(|j| j % period < keep);
                        for (at, j) in kept.enumerate() {
                            let got = f64::from(c[i * out.row_stride + at]);
                            let tol = 1e-5 * (k as f64).sqrt() + 1e-6;
                            assert!(
                                (got - want_row[j]).abs() <= tol,
                                "{isa:?} m={m} {counts:?} n={n} {period}/{keep} relu={relu} ({i},{j}): {got} vs {}",
                                want_row[j]
                            );
                        }
                        // The gap between rows and the value past C are untouched.
                        if i + 1 < m {
                            assert!(c[i * out.row_stride + stored].is_nan(), "{isa:?} gap");
                        }
                    }
                    assert!(c.last().unwrap().is_nan(), "{isa:?} past C");
                }
            }
        }
    }

    #[test]
    fn rows_gemm_refuses_bad_operands() {
        let values = [1.0f32; 6];
        let bias = [0.0f32; 2];
        let data = [1.0f32; 10];
        let w = WeightRows {
            values: &values,
            m: 2,
            k: 3,
            bias: &bias,
        };
        let b = RowGrid {
            data: &data,
            counts: [1, 1, 3],
            strides: [0, 0, 3],
            n: 2,
        };
        let mut c = [0.0f32; 4];
        let ok = gemm_rows_into(w, b, Epilogue::None, &mut c, RowOutput::dense(2, 2));
        assert!(ok.is_ok());
        assert_eq!(c, [3.0; 4]);
        let past_b = RowGrid {
            strides: [0, 0, 5],
            ..b
        };
        let wrong_k = RowGrid {
            counts: [1, 2, 2],
            ..b
        };
        let short_w = WeightRows {
            values: &values[..5],
            ..w
        };
        for (w, b) in [(w, past_b), (w, wrong_k), (short_w, b)] {
            let err = gemm_rows_into(w, b, Epilogue::None, &mut c, RowOutput::dense(2, 2));
            assert_eq!(err.unwrap_err().code(), "TL0501");
        }
        let err = gemm_rows_into(w, b, Epilogue::None, &mut c[..3], RowOutput::dense(2, 2));
        assert_eq!(err.unwrap_err().code(), "TL0501", "short C");
        let err = gemm_rows_into(w, b, Epilogue::None, &mut c, RowOutput::dense(1, 2));
        assert_eq!(err.unwrap_err().code(), "TL0501", "rows overlap");
        let bad_map = RowOutput {
            row_stride: 2,
            period: 2,
            keep: 3,
        };
        let err = gemm_rows_into(w, b, Epilogue::None, &mut c, bad_map);
        assert_eq!(err.unwrap_err().code(), "TL0503");
    }
}
