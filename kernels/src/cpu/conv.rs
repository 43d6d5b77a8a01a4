//! Convolution, NCHW (2-D) and NCL (1-D), with stride, padding (begin/end per side), dilation and
//! groups, as im2col followed by one GEMM per (image, group).

use crate::cpu::gemm::{
    gemm_packed_strided_into, gemm_rows_into, Epilogue, MatrixStrides, PackedMatrix, RowGrid,
    RowOutput, WeightRows, PANEL,
};
use crate::cpu::pool::Pool2dParams;
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

/// A 2-D convolution (groups = 1) prepared for the GEMM micro-kernels, in one of two
/// orientations picked per input shape by which fills more vector lanes:
///
/// - **channels on the lanes** (many output channels): each image is unfolded into a reused
///   scratch buffer (im2col) and multiplied by the packed `W^T` ([`PackedMatrix`]), writing
///   the channel planes through a column stride of `Ho * Wo`;
/// - **positions on the lanes** (few output channels, larger planes): `W [C_out, K]` times
///   `B [K, positions]` ([`gemm_rows_into`]), so each image's C is its channel planes. At
///   stride 1 the rows of B are shifted windows of the (zero-padded) input planes themselves,
///   with no im2col: a row of the output is computed `Wp` (padded width) positions wide and
///   the `Wp - Wo` that wrap around are not stored.
///
/// Both put the bias and an optional relu in the GEMM epilogue.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedConv2d {
    weight: PackedMatrix,
    /// `[C_out, C * kh * kw]` row-major, for the positions-on-lanes orientation.
    rows: Vec<f32>,
    /// `[C_out]` (zeros without a bias).
    bias: Vec<f32>,
    in_channels: usize,
    kernel: [usize; 2],
    params: Conv2dParams,
}

/// Average pooling over whole, non-overlapping windows (stride = kernel, no padding, floor
/// mode), which a convolution can apply to each image's output while it is in cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TiledAvgPool {
    kernel: [usize; 2],
}

impl TiledAvgPool {
    /// The pool `p`, when its windows tile the input that way.
    pub fn from_params(p: &Pool2dParams) -> Option<Self> {
        let tiled = p.kernel == p.stride
            && !p.kernel.contains(&0)
            && p.padding == [[0, 0], [0, 0]]
            && p.dilation == [1, 1]
            && !p.ceil_mode;
        tiled.then_some(TiledAvgPool { kernel: p.kernel })
    }

    /// `[h / kh, w / kw]`; a plane smaller than the window is refused.
    pub fn output_size(&self, h: usize, w: usize) -> KernelResult<[usize; 2]> {
        let [kh, kw] = self.kernel;
        if h < kh || w < kw {
            return Err(KernelError::shape(
                "avg_pool2d",
                format!(
                    "input size [{h}, {w}] is smaller than the window {:?}",
                    self.kernel
                ),
            ));
        }
        Ok([h / kh, w / kw])
    }

    /// Pools planes `[P, h, w]` into `out: [P, h / kh, w / kw]`, summing each window row by
    /// row and dividing by its size, as the generic kernel does (the same values). Each
    /// output row accumulates in place, input row by input row.
    fn pool_planes(&self, x: &[f32], [h, w]: [usize; 2], out: &mut [f32]) {
        match self.kernel[1] {
            1 => self.pool_rows::<1>(x, [h, w], out),
            2 => self.pool_rows::<2>(x, [h, w], out),
            3 => self.pool_rows::<3>(x, [h, w], out),
            kw => self.pool_rows_of(kw, x, [h, w], out),
        }
    }

    /// [`TiledAvgPool::pool_planes`] with the window width known at compile time.
    fn pool_rows<const KW: usize>(&self, x: &[f32], hw: [usize; 2], out: &mut [f32]) {
        self.pool_rows_of(KW, x, hw, out)
    }

    #[inline(always)]
    fn pool_rows_of(&self, kw: usize, x: &[f32], [h, w]: [usize; 2], out: &mut [f32]) {
        let kh = self.kernel[0];
        let (ho, wo) = (h / kh, w / kw);
        let divisor = (kh * kw) as f32;
        for (plane, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(ho * wo)) {
            for (oh, dst_row) in dst.chunks_exact_mut(wo).enumerate() {
                dst_row.fill(0.0);
                for ih in oh * kh..(oh + 1) * kh {
                    let row = &plane[ih * w..ih * w + wo * kw];
                    for (d, window) in dst_row.iter_mut().zip(row.chunks_exact(kw)) {
                        *d = window.iter().fold(*d, |a, &v| a + v);
                    }
                }
                if (kh * kw).is_power_of_two() {
                    // Exact reciprocal: the same values as dividing, without the divisions.
                    let inverse = 1.0 / divisor;
                    dst_row.iter_mut().for_each(|d| *d *= inverse);
                } else {
                    dst_row.iter_mut().for_each(|d| *d /= divisor);
                }
            }
        }
    }
}

/// How [`PackedConv2d`] runs for one input shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Orientation {
    /// Output channels on the lanes, over an im2col of each image.
    Channels,
    /// Positions on the lanes over an im2col (a strided convolution).
    PositionsUnfolded,
    /// Positions on the lanes over the input planes (stride 1), `padded` into scratch first
    /// when the convolution has padding.
    PositionsDirect { padded: bool },
}

/// Share of the vector lanes a dimension of `len` fills when cut into 16-lane vectors.
fn lane_use(useful: usize, len: usize) -> f64 {
    useful as f64 / (len.div_ceil(PANEL).max(1) * PANEL) as f64
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
        let weight = PackedMatrix::from_rows(rows, b)?;
        Ok(PackedConv2d {
            weight,
            rows: rows.iter().copied().collect(),
            bias: b.map_or_else(|| vec![0.0; o], |b| b.iter().copied().collect()),
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
        let [_, wp] = self.padded(input[2], input[3]);
        self.scratch_for(self.orientation([wp, ho, wo]), input)
    }

    /// Scratch values for `input` in `orientation`: an im2col, a padded image or nothing.
    fn scratch_for(&self, orientation: Orientation, input: &[usize]) -> KernelResult<usize> {
        const OP: &str = "conv2d";
        let [_, _, ho, wo] = self.output_shape(input)?;
        let [hp, wp] = self.padded(input[2], input[3]);
        match orientation {
            Orientation::Channels | Orientation::PositionsUnfolded => {
                checked_numel(OP, &[ho, wo, self.weight.k()])
            }
            Orientation::PositionsDirect { padded: true } => {
                checked_numel(OP, &[self.in_channels, hp, wp])
            }
            Orientation::PositionsDirect { padded: false } => Ok(0),
        }
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
        let [_, _, ho, wo] = self.output_shape(shape)?;
        let [_, wp] = self.padded(shape[2], shape[3]);
        let orientation = self.orientation([wp, ho, wo]);
        self.run_oriented(orientation, x, shape, epilogue, None, scratch, out)
    }

    /// `[N, O, Ho / kh, Wo / kw]`: the output of [`PackedConv2d::run_pooled_into`].
    pub fn pooled_output_shape(
        &self,
        input: &[usize],
        pool: TiledAvgPool,
    ) -> KernelResult<[usize; 4]> {
        let [n, o, ho, wo] = self.output_shape(input)?;
        let [pho, pwo] = pool.output_size(ho, wo)?;
        Ok([n, o, pho, pwo])
    }

    /// Scratch values [`PackedConv2d::run_pooled_into`] needs: the convolution's, and two
    /// convolved images.
    pub fn pooled_scratch_len(&self, input: &[usize]) -> KernelResult<usize> {
        let [_, o, ho, wo] = self.output_shape(input)?;
        let image = checked_numel("conv2d", &[2, o, ho, wo])?;
        self.scratch_len(input)?
            .checked_add(image)
            .ok_or_else(|| KernelError::shape("conv2d", "scratch size overflows"))
    }

    /// The convolution followed by `pool`, image by image (each convolved image is pooled
    /// from scratch while it is in cache, one image behind): `out` is [`PackedConv2d::pooled_output_shape`].
    /// Allocation-free.
    pub fn run_pooled_into(
        &self,
        x: &[f32],
        shape: &[usize],
        epilogue: Epilogue,
        pool: TiledAvgPool,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> KernelResult<()> {
        let [_, _, ho, wo] = self.output_shape(shape)?;
        let [_, wp] = self.padded(shape[2], shape[3]);
        let orientation = self.orientation([wp, ho, wo]);
        self.run_oriented(orientation, x, shape, epilogue, Some(pool), scratch, out)
    }

    /// [`PackedConv2d::run_into`] in a given orientation, then `pool` if any (the convolved
    /// image goes through scratch).
    #[allow(clippy::too_many_arguments)]
    fn run_oriented(
        &self,
        orientation: Orientation,
        x: &[f32],
        shape: &[usize],
        epilogue: Epilogue,
        pool: Option<TiledAvgPool>,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> KernelResult<()> {
        const OP: &str = "conv2d";
        let [n, o, ho, wo] = self.output_shape(shape)?;
        let (c, h, w) = (shape[1], shape[2], shape[3]);
        let plane_in = c * h * w;
        let [pho, pwo] = match pool {
            Some(p) => p.output_size(ho, wo)?,
            None => [ho, wo],
        };
        let image_out = o * pho * pwo;
        if x.len() != n * plane_in || out.len() != n * image_out {
            return Err(KernelError::shape(
                OP,
                format!(
                    "buffers hold {} input and {} output values for {shape:?} -> [{n}, {o}, {pho}, {pwo}]",
                    x.len(),
                    out.len()
                ),
            ));
        }
        let needed = self.scratch_for(orientation, shape)?;
        // Two convolved images when pooling: image i is pooled while image i + 1 is convolved,
        // so the pool never reads values whose vector stores are still in flight (a
        // store-forwarding stall on every load).
        let convolved = if pool.is_some() { 2 * o * ho * wo } else { 0 };
        let scratch_len = scratch.len();
        let (scratch, convolved) = scratch
            .get_mut(..needed + convolved)
            .ok_or_else(|| KernelError::shape(OP, format!("scratch holds {scratch_len} values")))?
            .split_at_mut(needed);
        let dims = [h, w, ho, wo];
        let image = |img: usize| &x[img * plane_in..(img + 1) * plane_in];
        let Some(pool) = pool else {
            for (img, out) in out.chunks_exact_mut(image_out.max(1)).enumerate().take(n) {
                self.image_into(orientation, image(img), dims, epilogue, scratch, out)?;
            }
            return Ok(());
        };
        let (even, odd) = convolved.split_at_mut(o * ho * wo);
        let mut slots = [even, odd];
        for img in 0..n {
            let [current, previous] = &mut slots;
            self.image_into(orientation, image(img), dims, epilogue, scratch, current)?;
            if img > 0 {
                let done = &mut out[(img - 1) * image_out..img * image_out];
                pool.pool_planes(previous, [ho, wo], done);
            }
            slots.swap(0, 1);
        }
        if n > 0 {
            // After the last swap, the last image is in the second slot.
            pool.pool_planes(slots[1], [ho, wo], &mut out[(n - 1) * image_out..]);
        }
        Ok(())
    }

    /// Convolves one image `[C, H, W]` into `out: [O, Ho, Wo]`.
    fn image_into(
        &self,
        orientation: Orientation,
        image: &[f32],
        [h, w, ho, wo]: [usize; 4],
        epilogue: Epilogue,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> KernelResult<()> {
        let c = self.in_channels;
        let [hp, wp] = self.padded(h, w);
        let plane_out = ho * wo;
        match orientation {
            Orientation::Channels => {
                self.unfold(image, [h, w], [ho, wo], scratch);
                // A[pos, kidx] = cols[kidx * plane_out + pos]; C[pos, oc] goes to plane oc.
                let planes = MatrixStrides {
                    row_stride: 1,
                    col_stride: plane_out,
                };
                gemm_packed_strided_into(
                    plane_out,
                    scratch,
                    planes,
                    &self.weight,
                    epilogue,
                    out,
                    planes,
                )?;
            }
            Orientation::PositionsUnfolded => {
                self.unfold(image, [h, w], [ho, wo], scratch);
                let [kh, kw] = self.kernel;
                let cols = RowGrid {
                    data: scratch,
                    counts: [c, kh, kw],
                    strides: [kh * kw * plane_out, kw * plane_out, plane_out],
                    n: plane_out,
                };
                let planes = RowOutput::dense(plane_out, plane_out);
                gemm_rows_into(self.weight_rows(), cols, epilogue, out, planes)?;
            }
            Orientation::PositionsDirect { padded } => {
                let src = if padded {
                    self.pad(image, [h, w], scratch);
                    &*scratch
                } else {
                    image
                };
                let [kh, kw] = self.kernel;
                let [dh, dw] = self.params.dilation;
                // Wide position j = oh * Wp + ow reads tap (c, ki, kj) at
                // c * Hp * Wp + ki * dh * Wp + kj * dw + j; columns ow >= Wo are dropped.
                let windows = RowGrid {
                    data: src,
                    counts: [c, kh, kw],
                    strides: [hp * wp, dh * wp, dw],
                    n: (ho - 1) * wp + wo,
                };
                let planes = RowOutput {
                    row_stride: plane_out,
                    period: wp,
                    keep: wo,
                };
                gemm_rows_into(self.weight_rows(), windows, epilogue, out, planes)?;
            }
        }
        Ok(())
    }
}

impl PackedConv2d {
    /// `[Hp, Wp]`: the input plane with its padding.
    fn padded(&self, h: usize, w: usize) -> [usize; 2] {
        let [[top, bottom], [left, right]] = self.params.padding;
        [h + top + bottom, w + left + right]
    }

    /// Picks the orientation filling more vector lanes, for output planes `[ho, wo]` (>= 1)
    /// from an input `wp` wide with its padding; ties keep the channels on the lanes.
    fn orientation(&self, [wp, ho, wo]: [usize; 3]) -> Orientation {
        let out_channels = self.weight.n();
        let channels = lane_use(out_channels, out_channels);
        let direct = self.params.stride == [1, 1];
        let computed = if direct { (ho - 1) * wp + wo } else { ho * wo };
        if lane_use(ho * wo, computed) <= channels {
            Orientation::Channels
        } else if direct {
            Orientation::PositionsDirect {
                padded: self.params.padding != [[0, 0], [0, 0]],
            }
        } else {
            Orientation::PositionsUnfolded
        }
    }

    fn weight_rows(&self) -> WeightRows<'_> {
        WeightRows {
            values: &self.rows,
            m: self.weight.n(),
            k: self.weight.k(),
            bias: &self.bias,
        }
    }

    /// Copies one image into `padded: [C, Hp, Wp]` with zeros around it.
    fn pad(&self, image: &[f32], [h, w]: [usize; 2], padded: &mut [f32]) {
        let [[top, _], [left, _]] = self.params.padding;
        let [hp, wp] = self.padded(h, w);
        padded.fill(0.0);
        for ch in 0..self.in_channels {
            let src = &image[ch * h * w..(ch + 1) * h * w];
            let dst = &mut padded[ch * hp * wp..(ch + 1) * hp * wp];
            for (r, row) in src.chunks_exact(w.max(1)).enumerate() {
                let at = (top + r) * wp + left;
                dst[at..at + w].copy_from_slice(row);
            }
        }
    }

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

    fn filled(shape: (usize, usize, usize, usize), seed: usize) -> ArrayD<f64> {
        Array::from_shape_fn(shape, |(a, b, c, d)| {
            ((a * 31 + b * 7 + c * 3 + d * 5 + seed) % 11) as f64 - 5.0
        })
        .into_dyn()
    }

    /// Every orientation that applies (positions read directly only at stride 1), and the
    /// one run_into picks, against the direct definition; values are small integers, so f32
    /// is exact.
    #[test]
    fn packed_matches_naive_in_every_orientation() {
        let params = |stride, padding, dilation| Conv2dParams {
            stride,
            padding,
            dilation,
            groups: 1,
        };
        let cases = [
            // (x, w, params): the spec-example CNN's conv, odd sizes, padding, dilation,
            // 1x1 kernels, strides, more channels than a panel.
            ((3, 1, 8, 8), (4, 1, 3, 3), Conv2dParams::default()),
            ((3, 3, 7, 6), (5, 3, 3, 2), Conv2dParams::default()),
            (
                (2, 3, 7, 6),
                (5, 3, 3, 2),
                params([2, 1], [[1, 2], [0, 1]], [1, 2]),
            ),
            (
                (2, 2, 9, 5),
                (3, 2, 3, 3),
                params([1, 1], [[1, 1], [2, 0]], [1, 1]),
            ),
            (
                (1, 2, 11, 13),
                (6, 2, 2, 3),
                params([1, 1], [[0, 1], [1, 1]], [2, 3]),
            ),
            ((2, 3, 5, 7), (7, 3, 1, 1), Conv2dParams::default()),
            (
                (1, 2, 20, 19),
                (3, 2, 3, 3),
                params([2, 2], [[1, 1], [1, 1]], [1, 1]),
            ),
            (
                (2, 2, 6, 6),
                (20, 2, 3, 3),
                params([1, 1], [[1, 1], [1, 1]], [1, 1]),
            ),
            ((1, 1, 3, 3), (2, 1, 3, 3), Conv2dParams::default()),
        ];
        for (seed, (xs, ws, p)) in cases.into_iter().enumerate() {
            let x = filled(xs, seed);
            let w = filled(ws, seed + 1).mapv(|v| (v / 2.0).round());
            let b = Array::from_shape_fn(ws.0, |i| i as f64 * 0.5 - 1.0).into_dyn();
            let expected = naive_conv2d(&x, &w, Some(&b), &p);
            let (x32, w32, b32) = (
                x.mapv(|v| v as f32),
                w.mapv(|v| v as f32),
                b.mapv(|v| v as f32),
            );
            let conv = PackedConv2d::new(w32.view(), Some(b32.view()), p).unwrap();
            assert_eq!(conv.output_shape(x.shape()).unwrap(), expected.shape());
            let padded = p.padding != [[0, 0], [0, 0]];
            let mut orientations = vec![
                None,
                Some(Orientation::Channels),
                Some(Orientation::PositionsUnfolded),
            ];
            if p.stride == [1, 1] {
                orientations.push(Some(Orientation::PositionsDirect { padded }));
            }
            for orientation in orientations {
                let len = match orientation {
                    Some(o) => conv.scratch_for(o, x.shape()).unwrap(),
                    None => conv.scratch_len(x.shape()).unwrap(),
                };
                let mut scratch = vec![f32::NAN; len];
                for relu in [false, true] {
                    let mut out = vec![f32::NAN; expected.len()];
                    let epilogue = if relu { Epilogue::Relu } else { Epilogue::None };
                    let xs = x32.as_slice().unwrap();
                    match orientation {
                        Some(o) => conv.run_oriented(
                            o,
                            xs,
                            x.shape(),
                            epilogue,
                            None,
                            &mut scratch,
                            &mut out,
                        ),
                        None => conv.run_into(xs, x.shape(), epilogue, &mut scratch, &mut out),
                    }
                    .unwrap();
                    for (got, want) in out.iter().zip(expected.iter()) {
                        let want = if relu { want.max(0.0) } else { *want };
                        assert_eq!(
                            f64::from(*got),
                            want,
                            "case {seed} {orientation:?} relu={relu}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn pooled_matches_naive_convolution_then_generic_pool() {
        let cases = [
            // (x, w, params, pool window): the spec-example CNN, floor mode on odd planes,
            // a non-square window, channels on the lanes.
            ((3, 1, 8, 8), (4, 1, 3, 3), Conv2dParams::default(), [2, 2]),
            (
                (2, 2, 9, 8),
                (3, 2, 2, 2),
                Conv2dParams::symmetric([1, 1], [1, 1], [1, 1], 1),
                [3, 2],
            ),
            ((2, 3, 7, 6), (20, 3, 3, 2), Conv2dParams::default(), [2, 2]),
        ];
        for (seed, (xs, ws, p, window)) in cases.into_iter().enumerate() {
            let x = filled(xs, seed);
            let w = filled(ws, seed + 1).mapv(|v| (v / 2.0).round());
            let b = Array::from_shape_fn(ws.0, |i| i as f64 * 0.5 - 1.0).into_dyn();
            let pool_params = Pool2dParams::new(window);
            let pool = TiledAvgPool::from_params(&pool_params).unwrap();
            let conv = PackedConv2d::new(
                w.mapv(|v| v as f32).view(),
                Some(b.mapv(|v| v as f32).view()),
                p,
            )
            .unwrap();
            for relu in [false, true] {
                let mut convolved = naive_conv2d(&x, &w, Some(&b), &p).mapv(|v| v as f32);
                if relu {
                    convolved.mapv_inplace(|v| v.max(0.0));
                }
                let expected = crate::cpu::avg_pool2d(convolved.view(), &pool_params).unwrap();
                assert_eq!(
                    conv.pooled_output_shape(x.shape(), pool).unwrap(),
                    expected.shape()
                );
                let mut scratch = vec![f32::NAN; conv.pooled_scratch_len(x.shape()).unwrap()];
                let mut out = vec![f32::NAN; expected.len()];
                let epilogue = if relu { Epilogue::Relu } else { Epilogue::None };
                let x32 = x.mapv(|v| v as f32);
                conv.run_pooled_into(
                    x32.as_slice().unwrap(),
                    x.shape(),
                    epilogue,
                    pool,
                    &mut scratch,
                    &mut out,
                )
                .unwrap();
                // The same sums in the same order as the generic pool: identical values.
                assert_eq!(out.as_slice(), expected.as_slice().unwrap(), "case {seed}");
            }
        }
    }

    #[test]
    fn only_whole_window_pools_are_tiled() {
        let tiled = Pool2dParams::new([2, 3]);
        assert!(TiledAvgPool::from_params(&tiled).is_some());
        let refused = [
            Pool2dParams {
                stride: [1, 1],
                ..tiled
            },
            Pool2dParams {
                padding: [[1, 0], [0, 0]],
                ..tiled
            },
            Pool2dParams {
                ceil_mode: true,
                ..tiled
            },
        ];
        for p in refused {
            assert!(TiledAvgPool::from_params(&p).is_none(), "{p:?}");
        }
        let pool = TiledAvgPool::from_params(&tiled).unwrap();
        assert_eq!(pool.output_size(5, 7).unwrap(), [2, 2]);
        assert_eq!(pool.output_size(1, 7).unwrap_err().code(), "TL0501");
    }

    #[test]
    fn orientation_follows_lane_use() {
        let conv = |o: usize, p| {
            let w = ArrayD::<f32>::ones(IxDyn(&[o, 1, 3, 3]));
            PackedConv2d::new(w.view(), None, p).unwrap()
        };
        let strided = Conv2dParams {
            stride: [2, 2],
            ..Conv2dParams::default()
        };
        let padded = Conv2dParams::symmetric([1, 1], [1, 1], [1, 1], 1);
        // 4 channels fill a quarter of a panel, 36 positions (46 computed: 3 vectors) three
        // quarters.
        let small = conv(4, Conv2dParams::default());
        assert_eq!(
            small.orientation([8, 6, 6]),
            Orientation::PositionsDirect { padded: false }
        );
        assert_eq!(
            conv(4, padded).orientation([10, 8, 8]),
            Orientation::PositionsDirect { padded: true }
        );
        assert_eq!(
            conv(4, strided).orientation([9, 4, 4]),
            Orientation::PositionsUnfolded
        );
        // A 1x1 output, or 32 channels (whole panels): channels stay on the lanes.
        assert_eq!(small.orientation([3, 1, 1]), Orientation::Channels);
        let wide = conv(32, Conv2dParams::default());
        assert_eq!(wide.orientation([30, 28, 28]), Orientation::Channels);
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
        // Padding: the kernel needs scratch for the padded image.
        let padded = Conv2dParams::symmetric([1, 1], [1, 1], [1, 1], 1);
        let conv = PackedConv2d::new(w.view(), None, padded).unwrap();
        assert_eq!(conv.scratch_len(&[1, 1, 1, 1]).unwrap(), 9);
        let mut out = [0.0f32; 8];
        let err = conv
            .run_into(
                &[0.0; 1],
                &[1, 1, 1, 1],
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
