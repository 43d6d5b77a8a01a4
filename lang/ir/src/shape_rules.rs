//! One shape rule and one dtype rule per op. Analysis runs them on declared (possibly symbolic)
//! shapes; the executors run them on concrete shapes.

use crate::attrs::{AttrValue, Attrs};
use crate::dtype::DType;
use crate::ops::{DTypeRule, Op};
use crate::shape::{Dim, Shape};

/// Why a shape rule rejected its inputs. `input` names the blamed input (an index into the node's
/// tensor inputs) so a diagnostic can point at that argument and say where its shape came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    pub message: String,
    pub input: Option<usize>,
    /// The attribute at fault, when an attribute is.
    pub attr: Option<&'static str>,
}

fn err(message: impl Into<String>) -> ShapeError {
    ShapeError {
        message: message.into(),
        input: None,
        attr: None,
    }
}
fn err_at(input: usize, message: impl Into<String>) -> ShapeError {
    ShapeError {
        message: message.into(),
        input: Some(input),
        attr: None,
    }
}
fn err_attr(attr: &'static str, message: impl Into<String>) -> ShapeError {
    ShapeError {
        message: message.into(),
        input: None,
        attr: Some(attr),
    }
}

type R = Result<Shape, ShapeError>;

/// The output shape of `op` applied to inputs of these shapes with these attributes.
pub fn infer_shape(op: Op, inputs: &[Shape], attrs: &Attrs) -> R {
    let (min, max) = op.info().arity();
    if inputs.len() < min || max.is_some_and(|m| inputs.len() > m) {
        return Err(err(format!(
            "{} takes {} tensor input{}, got {}",
            op.name(),
            arity_words(min, max),
            if max == Some(1) { "" } else { "s" },
            inputs.len()
        )));
    }
    use Op::*;
    match op {
        Relu | LeakyRelu | Sigmoid | Tanh | Gelu | Softplus | Silu | Neg | Exp | Log | Sqrt
        | Abs | Erf | Clamp | Dropout | Identity | Elu | Selu | HardSigmoid | HardSwish => {
            Ok(inputs[0].clone())
        }
        Prelu => {
            // The slope broadcasts to x one way: the output keeps x's shape.
            let out = broadcast(&inputs[0], &inputs[1])?;
            if out != inputs[0] {
                return Err(err_at(
                    1,
                    format!(
                        "prelu slope {} must broadcast to x {} (the output keeps x's shape)",
                        inputs[1], inputs[0]
                    ),
                ));
            }
            Ok(out)
        }
        Pad => pad(&inputs[0], attrs),
        Where => {
            // broadcast blames its second operand: b, then cond.
            let ab = broadcast(&inputs[1], &inputs[2]).map_err(|e| ShapeError {
                input: Some(2),
                ..e
            })?;
            broadcast(&ab, &inputs[0]).map_err(|e| ShapeError {
                input: Some(0),
                ..e
            })
        }
        Lrn => {
            if inputs[0].rank() < 2 {
                return Err(err_at(
                    0,
                    format!("lrn needs [N, C, ...], got {}", inputs[0]),
                ));
            }
            if attrs.int("size", 0) < 1 {
                return Err(err_attr("size", "lrn needs size >= 1"));
            }
            Ok(inputs[0].clone())
        }
        Trilu => {
            if inputs[0].rank() < 2 {
                return Err(err_at(
                    0,
                    format!("trilu needs a tensor of rank >= 2, got {}", inputs[0]),
                ));
            }
            Ok(inputs[0].clone())
        }
        Resize => resize(&inputs[0], attrs),
        Softmax | LogSoftmax => {
            axis(attrs.int("axis", -1), inputs[0].rank(), "axis")?;
            Ok(inputs[0].clone())
        }
        Constant => constant_shape(attrs),
        Add | Sub | Mul | Div | Pow | Maximum | Minimum => broadcast(&inputs[0], &inputs[1]),
        Linear => linear(inputs),
        Matmul => matmul(&inputs[0], &inputs[1]),
        Conv1d => conv(inputs, attrs, 1),
        Conv2d => conv(inputs, attrs, 2),
        ConvTranspose2d => conv_transpose2d(inputs, attrs),
        LayerNorm => layer_norm(inputs, attrs),
        BatchNorm => batch_norm(inputs),
        RmsNorm => {
            let x = &inputs[0];
            if let Some(w) = inputs.get(1) {
                let last = x
                    .dims()
                    .last()
                    .ok_or_else(|| err_at(0, "rms_norm needs at least one axis"))?;
                if w.rank() != 1 || !same(&w.0[0], last) {
                    return Err(err_at(
                        1,
                        format!("rms_norm weight must be [{last}], got {w}"),
                    ));
                }
            }
            Ok(x.clone())
        }
        MaxPool2d | AvgPool2d => pool(op, &inputs[0], attrs),
        GlobalAvgPool => {
            let x = &inputs[0];
            if x.rank() < 3 {
                return Err(err_at(
                    0,
                    format!("global_avg_pool needs [N, C, spatial...], got {x}"),
                ));
            }
            let mut out = x.0[..2].to_vec();
            out.extend(std::iter::repeat_n(Dim::Known(1), x.rank() - 2));
            Ok(Shape(out))
        }
        Transpose => {
            let x = &inputs[0];
            let a = axis(attrs.int("dim0", -2), x.rank(), "dim0")?;
            let b = axis(attrs.int("dim1", -1), x.rank(), "dim1")?;
            let mut out = x.0.clone();
            out.swap(a, b);
            Ok(Shape(out))
        }
        Permute => permute(&inputs[0], attrs),
        Sum | Mean | Max => reduce(&inputs[0], attrs),
        Argmax => {
            let x = &inputs[0];
            let a = axis(attrs.int("axis", -1), x.rank(), "axis")?;
            let mut out = x.0.clone();
            if attrs.bool("keepdim", false) {
                out[a] = Dim::Known(1);
            } else {
                out.remove(a);
            }
            Ok(Shape(out))
        }
        Reshape => reshape(&inputs[0], attrs),
        Flatten => flatten(&inputs[0], attrs),
        Concat => concat(inputs, attrs),
        Slice => slice(&inputs[0], attrs),
        Unsqueeze => unsqueeze(&inputs[0], attrs),
        Squeeze => squeeze(&inputs[0], attrs),
        Embedding => {
            let (idx, w) = (&inputs[0], &inputs[1]);
            if w.rank() != 2 {
                return Err(err_at(
                    1,
                    format!("embedding weight must be [V, D], got {w}"),
                ));
            }
            let mut out = idx.0.clone();
            out.push(w.0[1].clone());
            Ok(Shape(out))
        }
        Gather => {
            let (x, idx) = (&inputs[0], &inputs[1]);
            let a = axis(attrs.int("axis", 0), x.rank(), "axis")?;
            let mut out = x.0[..a].to_vec();
            out.extend(idx.0.iter().cloned());
            out.extend(x.0[a + 1..].iter().cloned());
            Ok(Shape(out))
        }
        AttentionWeights => attention(inputs, false),
        ScaledDotProductAttention => attention(inputs, true),
        MseLoss => {
            let (a, b) = (&inputs[0], &inputs[1]);
            if a != b {
                return Err(err_at(
                    1,
                    format!("mse_loss needs input and target of one shape, got {a} and {b}"),
                ));
            }
            Ok(if attrs.str("reduction", "mean") == "none" {
                a.clone()
            } else {
                Shape::scalar()
            })
        }
        CrossEntropy => {
            let (logits, labels) = (&inputs[0], &inputs[1]);
            if logits.rank() != 2 {
                return Err(err_at(
                    0,
                    format!("cross_entropy logits must be [N, C], got {logits}"),
                ));
            }
            if labels.rank() != 1 || !same(&labels.0[0], &logits.0[0]) {
                return Err(err_at(
                    1,
                    format!(
                        "cross_entropy labels must be [{}], got {labels}",
                        logits.0[0]
                    ),
                ));
            }
            Ok(if attrs.str("reduction", "mean") == "none" {
                labels.clone()
            } else {
                Shape::scalar()
            })
        }
    }
}

/// The output dtype of `op` for inputs of these dtypes.
pub fn infer_dtype(op: Op, inputs: &[DType], attrs: &Attrs) -> Result<DType, ShapeError> {
    let name = op.name();
    let float_input = |i: usize| -> Result<DType, ShapeError> {
        let d = inputs[i];
        if d.is_float() {
            Ok(d)
        } else {
            Err(err_at(
                i,
                format!("{name} needs a float tensor here, got {d}"),
            ))
        }
    };
    let int_input = |i: usize| -> Result<DType, ShapeError> {
        let d = inputs[i];
        if d.is_integer() {
            Ok(d)
        } else {
            Err(err_at(
                i,
                format!("{name} needs integer indices here, got {d}"),
            ))
        }
    };
    let all_same = |first: DType| -> Result<DType, ShapeError> {
        for (i, &d) in inputs.iter().enumerate() {
            if d != first {
                return Err(err_at(
                    i,
                    format!("{name} needs inputs of one dtype, got {first} and {d}"),
                ));
            }
        }
        Ok(first)
    };
    match op.info().dtype_rule {
        DTypeRule::FromAttr => {
            Ok(DType::from_name(attrs.str("dtype", "f32")).unwrap_or(DType::F32))
        }
        DTypeRule::Index => Ok(DType::I64),
        _ if inputs.is_empty() => Err(err(format!("{name} needs at least one input"))),
        DTypeRule::SameFloat => all_same(float_input(0)?),
        DTypeRule::SameAny => all_same(inputs[0]),
        DTypeRule::IndexedBy => {
            int_input(0)?;
            float_input(1)
        }
        DTypeRule::GatherLike => {
            int_input(1)?;
            Ok(inputs[0])
        }
        DTypeRule::LogitsLabels => {
            int_input(1)?;
            float_input(0)
        }
        DTypeRule::Select => {
            let d = float_input(1)?;
            if inputs[2] != d {
                return Err(err_at(
                    2,
                    format!(
                        "{name} needs a and b of one dtype, got {d} and {}",
                        inputs[2]
                    ),
                ));
            }
            Ok(d)
        }
    }
}

fn arity_words(min: usize, max: Option<usize>) -> String {
    match max {
        Some(m) if m == min => format!("{min}"),
        Some(m) => format!("{min} to {m}"),
        None => format!("at least {min}"),
    }
}

/// Two extents that must be equal: equal constants, or the same symbol.
fn same(a: &Dim, b: &Dim) -> bool {
    a == b
}

/// Normalises a possibly negative axis.
fn axis(a: i64, rank: usize, attr: &'static str) -> Result<usize, ShapeError> {
    let r = rank as i64;
    let n = if a < 0 { a + r } else { a };
    if n < 0 || n >= r.max(1) || (rank == 0) {
        return Err(err_attr(
            attr,
            format!("{attr} = {a} is out of range for a tensor of rank {rank}"),
        ));
    }
    Ok(n as usize)
}

fn constant_shape(attrs: &Attrs) -> R {
    match attrs.get("value") {
        Some(AttrValue::Tensor { shape, .. }) => Ok(Shape::known(shape)),
        Some(AttrValue::Ints(v)) => Ok(Shape::known(&[v.len() as u64])),
        Some(AttrValue::Int(_) | AttrValue::Float(_)) => Ok(Shape::scalar()),
        _ => Err(err_attr(
            "value",
            "constant needs value = a number or a nested list of numbers",
        )),
    }
}

/// `pad`: each axis grows by its leading and trailing counts (ONNX layout `[begins..., ends...]`).
fn pad(x: &Shape, attrs: &Attrs) -> R {
    let rank = x.rank();
    let pads = attrs
        .ints("pads")
        .ok_or_else(|| err_attr("pads", "pad needs pads"))?;
    if pads.len() != 2 * rank {
        return Err(err_attr(
            "pads",
            format!(
                "pads has {} entries; a tensor of rank {rank} needs {}",
                pads.len(),
                2 * rank
            ),
        ));
    }
    if let Some(p) = pads.iter().find(|&&p| p < 0) {
        return Err(err_attr(
            "pads",
            format!("pads must be >= 0 (cropping is a slice), got {p}"),
        ));
    }
    let mode = attrs.str("mode", "constant");
    if !matches!(mode, "constant" | "reflect" | "edge") {
        return Err(err_attr(
            "mode",
            format!("mode = {mode:?} is not constant, reflect or edge"),
        ));
    }
    let mut out = Vec::with_capacity(rank);
    for (i, d) in x.0.iter().enumerate() {
        let (lo, hi) = (pads[i] as u64, pads[rank + i] as u64);
        out.push(match d {
            _ if lo == 0 && hi == 0 => d.clone(),
            Dim::Known(n) => {
                if mode == "reflect" && (lo >= *n || hi >= *n) {
                    return Err(err_attr(
                        "pads",
                        format!("reflect padding of axis {i} by {lo} and {hi} needs an extent above both, got {n}"),
                    ));
                }
                if mode == "edge" && *n == 0 {
                    return Err(err_at(0, format!("edge padding of the empty axis {i}")));
                }
                Dim::Known(n + lo + hi)
            }
            Dim::Sym(s) => {
                return Err(err_at(
                    0,
                    format!("pad of axis {i}, of symbolic extent {s}, needs a known extent"),
                ))
            }
        });
    }
    Ok(Shape(out))
}

/// `resize`: the `shape` attribute, of x's rank; an axis of symbolic extent must keep it.
fn resize(x: &Shape, attrs: &Attrs) -> R {
    let shape = attrs
        .ints("shape")
        .ok_or_else(|| err_attr("shape", "resize needs shape"))?;
    if shape.len() != x.rank() {
        return Err(err_attr(
            "shape",
            format!(
                "shape {shape:?} has {} entries; x {x} has rank {}",
                shape.len(),
                x.rank()
            ),
        ));
    }
    x.0.iter()
        .zip(&shape)
        .enumerate()
        .map(|(i, (d, &t))| match d {
            _ if t < 1 => Err(err_attr(
                "shape",
                format!("resize extent {t} of axis {i} is not positive"),
            )),
            Dim::Known(0) => Err(err_at(0, format!("resize of the empty axis {i}"))),
            Dim::Known(_) => Ok(Dim::Known(t as u64)),
            Dim::Sym(s) => Err(err_at(
                0,
                format!("resize of axis {i}, of symbolic extent {s}, needs a known extent"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Shape)
}

/// numpy broadcasting of two shapes.
pub fn broadcast(a: &Shape, b: &Shape) -> R {
    let n = a.rank().max(b.rank());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let da = (i + a.rank()).checked_sub(n).map(|j| &a.0[j]);
        let db = (i + b.rank()).checked_sub(n).map(|j| &b.0[j]);
        out.push(match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(Dim::Known(1)), Some(y)) => y.clone(),
            (Some(x), Some(Dim::Known(1))) => x.clone(),
            (Some(x), Some(y)) => {
                return Err(err_at(
                    1,
                    format!("cannot broadcast {a} with {b}: axis {i} has extents {x} and {y}"),
                ))
            }
            (None, None) => unreachable!("i < max rank"),
        });
    }
    Ok(Shape(out))
}

fn linear(inputs: &[Shape]) -> R {
    let (x, w) = (&inputs[0], &inputs[1]);
    if w.rank() != 2 {
        return Err(err_at(
            1,
            format!("linear weight must be [out, in], got {w}"),
        ));
    }
    let Some(last) = x.dims().last() else {
        return Err(err_at(
            0,
            "linear input must have at least one axis".to_string(),
        ));
    };
    if !same(last, &w.0[1]) {
        return Err(err_at(
            1,
            format!(
                "linear weight {w} expects {} input features, but x {x} has {last}",
                w.0[1]
            ),
        ));
    }
    if let Some(b) = inputs.get(2) {
        if b.rank() != 1 || !same(&b.0[0], &w.0[0]) {
            return Err(err_at(
                2,
                format!(
                    "linear bias must be [{}] to match weight {w}, got {b}",
                    w.0[0]
                ),
            ));
        }
    }
    let mut out = x.0.clone();
    *out.last_mut().expect("rank >= 1") = w.0[0].clone();
    Ok(Shape(out))
}

fn matmul(a: &Shape, b: &Shape) -> R {
    if a.rank() == 0 || b.rank() == 0 {
        return Err(err(format!(
            "matmul needs operands of rank >= 1, got {a} and {b}"
        )));
    }
    let a2 = if a.rank() == 1 {
        Shape(vec![Dim::Known(1), a.0[0].clone()])
    } else {
        a.clone()
    };
    let b2 = if b.rank() == 1 {
        Shape(vec![b.0[0].clone(), Dim::Known(1)])
    } else {
        b.clone()
    };
    let (ar, br) = (a2.rank(), b2.rank());
    let k_a = &a2.0[ar - 1];
    let k_b = &b2.0[br - 2];
    if !same(k_a, k_b) {
        return Err(err_at(
            1,
            format!("matmul inner extents differ: {a} @ {b} ({k_a} vs {k_b})"),
        ));
    }
    let batch = broadcast(
        &Shape(a2.0[..ar - 2].to_vec()),
        &Shape(b2.0[..br - 2].to_vec()),
    )
    .map_err(|e| err_at(1, format!("matmul batch axes: {}", e.message)))?;
    let mut out = batch.0;
    if a.rank() > 1 {
        out.push(a2.0[ar - 2].clone());
    }
    if b.rank() > 1 {
        out.push(b2.0[br - 1].clone());
    }
    Ok(Shape(out))
}

/// Output extent of a sliding window; `None` when the window does not fit.
fn window_out(len: u64, k: u64, s: u64, p: u64, d: u64, ceil: bool) -> Option<u64> {
    let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = len.checked_add(2 * p)?;
    let room = padded.checked_sub(span)?;
    let mut out = if ceil { room.div_ceil(s) } else { room / s } + 1;
    // PyTorch: with ceil_mode the last window must start inside the (left-padded) input.
    if ceil && (out - 1) * s >= len + p {
        out -= 1;
    }
    Some(out)
}

/// A per-spatial-axis attribute (one value for every axis, or one per axis), checked positive.
fn spatial_attr(
    attrs: &Attrs,
    nd: usize,
    name: &'static str,
    default: i64,
    zero_ok: bool,
) -> Result<Vec<u64>, ShapeError> {
    let v = attrs
        .spatial(name, nd, default)
        .ok_or_else(|| err_attr(name, format!("{name} needs 1 or {nd} values")))?;
    positive(&v, name, zero_ok)
}

/// The window attributes a convolution and a transposed convolution share.
struct Window {
    stride: Vec<u64>,
    padding: Vec<u64>,
    dilation: Vec<u64>,
    groups: u64,
}

fn window(attrs: &Attrs, nd: usize) -> Result<Window, ShapeError> {
    let groups = attrs.int("groups", 1);
    if groups < 1 {
        return Err(err_attr(
            "groups",
            format!("groups must be >= 1, got {groups}"),
        ));
    }
    Ok(Window {
        stride: spatial_attr(attrs, nd, "stride", 1, false)?,
        padding: spatial_attr(attrs, nd, "padding", 0, true)?,
        dilation: spatial_attr(attrs, nd, "dilation", 1, false)?,
        groups: groups as u64,
    })
}

fn positive(v: &[i64], name: &'static str, allow_zero: bool) -> Result<Vec<u64>, ShapeError> {
    v.iter()
        .map(|&x| {
            if x > 0 || (allow_zero && x == 0) {
                Ok(x as u64)
            } else {
                Err(err_attr(
                    name,
                    format!(
                        "{name} must be {}, got {x}",
                        if allow_zero { ">= 0" } else { ">= 1" }
                    ),
                ))
            }
        })
        .collect()
}

fn conv_transpose2d(inputs: &[Shape], attrs: &Attrs) -> R {
    const OP: &str = "conv_transpose2d";
    let (x, w) = (&inputs[0], &inputs[1]);
    if x.rank() != 4 {
        return Err(err_at(
            0,
            format!("{OP} input must be [N, C, H, W], got {x}"),
        ));
    }
    if w.rank() != 4 {
        return Err(err_at(
            1,
            format!("{OP} weight must be [C, O/groups, KH, KW], got {w}"),
        ));
    }
    let Window {
        stride,
        padding,
        dilation,
        groups: g,
    } = window(attrs, 2)?;
    let output_padding = spatial_attr(attrs, 2, "output_padding", 0, true)?;
    if !same(&x.0[1], &w.0[0]) {
        return Err(err_at(
            1,
            format!(
                "{OP}: input has {} channels, weight {w} expects {}",
                x.0[1], w.0[0]
            ),
        ));
    }
    if let Some(c) = x.0[1].known() {
        if c % g != 0 {
            return Err(err_attr(
                "groups",
                format!("{OP}: {c} input channels do not split into {g} groups"),
            ));
        }
    }
    for i in 0..2 {
        if output_padding[i] >= stride[i].max(dilation[i]) {
            return Err(err_attr(
                "output_padding",
                format!(
                    "{OP}: output_padding {} must be below stride {} or dilation {}",
                    output_padding[i], stride[i], dilation[i]
                ),
            ));
        }
    }
    let out_channels = match w.0[1].known() {
        Some(o) => Dim::Known(o * g),
        None if g == 1 => w.0[1].clone(),
        None => {
            return Err(err_at(
                1,
                format!("{OP}: grouped weight {w} needs a known extent"),
            ))
        }
    };
    if let Some(b) = inputs.get(2) {
        if b.rank() != 1 || !same(&b.0[0], &out_channels) {
            return Err(err_at(
                2,
                format!("{OP} bias must be [{out_channels}], got {b}"),
            ));
        }
    }
    let mut out = vec![x.0[0].clone(), out_channels];
    for i in 0..2 {
        let (Some(n), Some(k)) = (x.0[2 + i].known(), w.0[2 + i].known()) else {
            return Err(err_at(
                0,
                format!("{OP} needs known spatial extents, got {x} and {w}"),
            ));
        };
        let full = n.saturating_sub(1) * stride[i]
            + dilation[i] * k.saturating_sub(1)
            + output_padding[i]
            + 1;
        if n == 0 || k == 0 || full <= 2 * padding[i] {
            return Err(err_at(
                0,
                format!(
                    "{OP}: input {x} with weight {w} and padding {} leaves no output",
                    padding[i]
                ),
            ));
        }
        out.push(Dim::Known(full - 2 * padding[i]));
    }
    Ok(Shape(out))
}

fn conv(inputs: &[Shape], attrs: &Attrs, nd: usize) -> R {
    let (x, w) = (&inputs[0], &inputs[1]);
    let op = if nd == 1 { "conv1d" } else { "conv2d" };
    let axes = if nd == 1 { "[N, C, L]" } else { "[N, C, H, W]" };
    if x.rank() != nd + 2 {
        return Err(err_at(0, format!("{op} input must be {axes}, got {x}")));
    }
    if w.rank() != nd + 2 {
        return Err(err_at(
            1,
            format!("{op} weight must have rank {}, got {w}", nd + 2),
        ));
    }
    let Window {
        stride,
        padding,
        dilation,
        groups: g,
    } = window(attrs, nd)?;
    if let (Some(c), Some(wc)) = (x.0[1].known(), w.0[1].known()) {
        if c % g != 0 || wc * g != c {
            return Err(err_at(
                1,
                format!("{op}: input has {c} channels, weight {w} expects {wc} x groups {g}"),
            ));
        }
    } else if g == 1 && !same(&x.0[1], &w.0[1]) {
        return Err(err_at(
            1,
            format!(
                "{op}: input channels {} differ from weight's {}",
                x.0[1], w.0[1]
            ),
        ));
    }
    if let Some(o) = w.0[0].known() {
        if o % g != 0 {
            return Err(err_at(
                1,
                format!("{op}: {o} output channels are not divisible by groups {g}"),
            ));
        }
    }
    if let Some(b) = inputs.get(2) {
        if b.rank() != 1 || !same(&b.0[0], &w.0[0]) {
            return Err(err_at(
                2,
                format!("{op} bias must be [{}], got {b}", w.0[0]),
            ));
        }
    }
    let mut out = vec![x.0[0].clone(), w.0[0].clone()];
    for i in 0..nd {
        let (len, k) = (&x.0[2 + i], &w.0[2 + i]);
        out.push(match (len.known(), k.known()) {
            (Some(len), Some(k)) => Dim::Known(
                window_out(len, k, stride[i], padding[i], dilation[i], false)
                    .ok_or_else(|| err_at(0, format!("{op}: kernel {k} (dilation {}) does not fit input extent {len} with padding {}", dilation[i], padding[i])))?,
            ),
            _ => return Err(err_at(0, format!("{op} needs known spatial extents, got {x} and kernel {w}"))),
        });
    }
    Ok(Shape(out))
}

fn pool(op: Op, x: &Shape, attrs: &Attrs) -> R {
    let name = op.name();
    if x.rank() != 4 && x.rank() != 3 {
        return Err(err_at(
            0,
            format!("{name} input must be [N, C, H, W] or [C, H, W], got {x}"),
        ));
    }
    let lead = x.rank() - 2;
    let kernel = attrs
        .spatial("kernel_size", 2, 0)
        .filter(|_| attrs.get("kernel_size").is_some())
        .ok_or_else(|| {
            err_attr(
                "kernel_size",
                format!("{name} needs kernel_size = k or [kh, kw]"),
            )
        })?;
    let kernel = positive(&kernel, "kernel_size", false)?;
    let stride = match attrs.get("stride") {
        None => kernel.clone(),
        Some(_) => positive(
            &attrs
                .spatial("stride", 2, 1)
                .ok_or_else(|| err_attr("stride", "stride needs 1 or 2 values"))?,
            "stride",
            false,
        )?,
    };
    let padding = positive(
        &attrs
            .spatial("padding", 2, 0)
            .ok_or_else(|| err_attr("padding", "padding needs 1 or 2 values"))?,
        "padding",
        true,
    )?;
    let dilation = positive(
        &attrs
            .spatial("dilation", 2, 1)
            .ok_or_else(|| err_attr("dilation", "dilation needs 1 or 2 values"))?,
        "dilation",
        false,
    )?;
    for i in 0..2 {
        if padding[i] * 2 > kernel[i] {
            return Err(err_attr(
                "padding",
                format!(
                    "{name}: padding {} exceeds half the kernel {}",
                    padding[i], kernel[i]
                ),
            ));
        }
    }
    let ceil = attrs.bool("ceil_mode", false);
    let mut out = x.0[..lead].to_vec();
    for i in 0..2 {
        let len = x.0[lead + i]
            .known()
            .ok_or_else(|| err_at(0, format!("{name} needs known spatial extents, got {x}")))?;
        out.push(Dim::Known(
            window_out(len, kernel[i], stride[i], padding[i], dilation[i], ceil).ok_or_else(
                || {
                    err_at(
                        0,
                        format!(
                            "{name}: window {} does not fit input extent {len}",
                            kernel[i]
                        ),
                    )
                },
            )?,
        ));
    }
    Ok(Shape(out))
}

fn layer_norm(inputs: &[Shape], attrs: &Attrs) -> R {
    let x = &inputs[0];
    let normalized: Vec<Dim> = match attrs.ints("normalized_shape") {
        Some(v) => positive(&v, "normalized_shape", false)?
            .into_iter()
            .map(Dim::Known)
            .collect(),
        None => match inputs.get(1) {
            Some(w) => w.0.clone(),
            None => x.0.last().cloned().into_iter().collect(),
        },
    };
    if normalized.is_empty()
        || normalized.len() > x.rank()
        || x.0[x.rank() - normalized.len()..] != normalized[..]
    {
        return Err(err_at(
            0,
            format!(
                "layer_norm normalises the trailing axes {}, which x {x} does not end with",
                Shape(normalized)
            ),
        ));
    }
    for (i, p) in inputs.iter().enumerate().skip(1) {
        if p.0 != normalized {
            return Err(err_at(
                i,
                format!(
                    "layer_norm {} must be {}, got {p}",
                    if i == 1 { "weight" } else { "bias" },
                    Shape(normalized.clone())
                ),
            ));
        }
    }
    Ok(x.clone())
}

fn batch_norm(inputs: &[Shape]) -> R {
    let x = &inputs[0];
    if x.rank() < 2 {
        return Err(err_at(
            0,
            format!("batch_norm input must be [N, C, ...], got {x}"),
        ));
    }
    let c = &x.0[1];
    const NAMES: [&str; 5] = ["x", "weight", "bias", "running_mean", "running_var"];
    for (i, p) in inputs.iter().enumerate().skip(1) {
        if p.rank() != 1 || !same(&p.0[0], c) {
            return Err(err_at(
                i,
                format!(
                    "batch_norm {} must be [{c}] (the channel axis of {x}), got {p}",
                    NAMES[i]
                ),
            ));
        }
    }
    Ok(x.clone())
}

fn permute(x: &Shape, attrs: &Attrs) -> R {
    let dims = attrs
        .ints("dims")
        .ok_or_else(|| err_attr("dims", "permute needs dims = [..]"))?;
    if dims.len() != x.rank() {
        return Err(err_attr(
            "dims",
            format!(
                "permute dims {dims:?} must list all {} axes of {x}",
                x.rank()
            ),
        ));
    }
    let mut seen = vec![false; x.rank()];
    let mut out = Vec::with_capacity(x.rank());
    for &d in &dims {
        let a = axis(d, x.rank(), "dims")?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(err_attr(
                "dims",
                format!("permute dims {dims:?} repeats axis {a}"),
            ));
        }
        out.push(x.0[a].clone());
    }
    Ok(Shape(out))
}

fn reduce(x: &Shape, attrs: &Attrs) -> R {
    let keep = attrs.bool("keepdim", false);
    let axes: Vec<usize> = match attrs.ints("axes") {
        None => (0..x.rank()).collect(),
        Some(v) => v
            .iter()
            .map(|&a| axis(a, x.rank(), "axes"))
            .collect::<Result<_, _>>()?,
    };
    Ok(Shape(
        x.0.iter()
            .enumerate()
            .filter_map(|(i, d)| match (axes.contains(&i), keep) {
                (false, _) => Some(d.clone()),
                (true, true) => Some(Dim::Known(1)),
                (true, false) => None,
            })
            .collect(),
    ))
}

fn reshape(x: &Shape, attrs: &Attrs) -> R {
    let target = attrs
        .ints("shape")
        .ok_or_else(|| err_attr("shape", "reshape needs shape = [..]"))?;
    if target.iter().filter(|&&d| d == -1).count() > 1 {
        return Err(err_attr("shape", "reshape allows at most one -1"));
    }
    let mut out: Vec<Option<Dim>> = Vec::with_capacity(target.len());
    for (i, &d) in target.iter().enumerate() {
        out.push(match d {
            -1 => None,
            0 => Some(x.0.get(i).cloned().ok_or_else(|| {
                err_attr(
                    "shape",
                    format!("shape[{i}] = 0 copies an axis {x} does not have"),
                )
            })?),
            d if d > 0 => Some(Dim::Known(d as u64)),
            d => return Err(err_attr("shape", format!("reshape extent {d} is invalid"))),
        });
    }
    // Count elements: known product and the multiset of symbols on each side.
    let split = |dims: &mut dyn Iterator<Item = &Dim>| -> Option<(u64, Vec<String>)> {
        let mut k = 1u64;
        let mut syms = Vec::new();
        for d in dims {
            match d {
                Dim::Known(n) => k = k.checked_mul(*n)?,
                Dim::Sym(s) => syms.push(s.clone()),
            }
        }
        syms.sort();
        Some((k, syms))
    };
    let overflow = || err_attr("shape", "element count overflows");
    let (xk, mut xs) = split(&mut x.0.iter()).ok_or_else(overflow)?;
    let (tk, ts) = split(&mut out.iter().flatten()).ok_or_else(overflow)?;
    // Symbols on the target side must come from the input.
    for s in &ts {
        match xs.iter().position(|y| y == s) {
            Some(p) => {
                xs.remove(p);
            }
            None => {
                return Err(err_attr(
                    "shape",
                    format!("reshape of {x}: cannot produce symbolic extent {s}"),
                ))
            }
        }
    }
    let hole = out.iter().position(Option::is_none);
    match hole {
        None => {
            if !xs.is_empty() || xk != tk {
                return Err(err_attr(
                    "shape",
                    format!("reshape cannot turn {x} into {target:?}: element counts differ"),
                ));
            }
        }
        Some(h) => {
            if tk == 0 || xk % tk != 0 {
                return Err(err_attr(
                    "shape",
                    format!(
                        "reshape cannot turn {x} into {target:?}: {xk} is not divisible by {tk}"
                    ),
                ));
            }
            let rest = xk / tk;
            out[h] = Some(match (xs.len(), rest) {
                (0, r) => Dim::Known(r),
                (1, 1) => Dim::Sym(xs[0].clone()),
                _ => {
                    return Err(err_attr(
                        "shape",
                        format!("reshape of {x}: the -1 extent would be a product of symbolic extents; name the axes instead"),
                    ))
                }
            });
        }
    }
    Ok(Shape(out.into_iter().map(|d| d.expect("filled")).collect()))
}

fn flatten(x: &Shape, attrs: &Attrs) -> R {
    if x.rank() == 0 {
        return Ok(Shape::known(&[1]));
    }
    let start = axis(attrs.int("start_dim", 1), x.rank(), "start_dim")?;
    let end = axis(attrs.int("end_dim", -1), x.rank(), "end_dim")?;
    if start > end {
        return Err(err_attr(
            "start_dim",
            format!("flatten start_dim {start} is after end_dim {end}"),
        ));
    }
    let merged = &x.0[start..=end];
    let dim = if merged.len() == 1 {
        merged[0].clone()
    } else {
        match Shape(merged.to_vec()).numel() {
            Some(n) => Dim::Known(n),
            None => {
                return Err(err_at(
                    0,
                    format!(
                    "flatten of {x} merges symbolic extents; keep them out of start_dim..end_dim"
                ),
                ))
            }
        }
    };
    let mut out = x.0[..start].to_vec();
    out.push(dim);
    out.extend(x.0[end + 1..].iter().cloned());
    Ok(Shape(out))
}

fn concat(inputs: &[Shape], attrs: &Attrs) -> R {
    let first = &inputs[0];
    let a = axis(attrs.int("axis", 0), first.rank(), "axis")?;
    let mut total: Option<u64> = Some(0);
    let mut syms = Vec::new();
    for (i, s) in inputs.iter().enumerate() {
        if s.rank() != first.rank() {
            return Err(err_at(
                i,
                format!("concat inputs must have one rank: {first} and {s}"),
            ));
        }
        for (j, (d, e)) in first.0.iter().zip(&s.0).enumerate() {
            if j != a && d != e {
                return Err(err_at(
                    i,
                    format!("concat along axis {a}: {first} and {s} differ at axis {j}"),
                ));
            }
        }
        match &s.0[a] {
            Dim::Known(n) => total = total.and_then(|t| t.checked_add(*n)),
            Dim::Sym(x) => syms.push(x.clone()),
        }
    }
    let dim = match (syms.len(), total) {
        (0, Some(t)) => Dim::Known(t),
        (1, Some(0)) => Dim::Sym(syms[0].clone()),
        _ => {
            return Err(err(format!(
                "concat along axis {a} would add symbolic extents"
            )))
        }
    };
    let mut out = first.0.clone();
    out[a] = dim;
    Ok(Shape(out))
}

fn slice(x: &Shape, attrs: &Attrs) -> R {
    let a = axis(attrs.int("axis", 0), x.rank(), "axis")?;
    let step = attrs.int("step", 1);
    if step < 1 {
        return Err(err_attr(
            "step",
            format!("slice step must be >= 1, got {step}"),
        ));
    }
    let Some(len) = x.0[a].known() else {
        return Err(err_at(
            0,
            format!("slice needs a known extent on axis {a} of {x}"),
        ));
    };
    let len = len as i64;
    let norm = |v: i64| if v < 0 { (v + len).max(0) } else { v.min(len) };
    let start = norm(attrs.int("start", 0));
    let end = norm(attrs.int("end", len));
    let n = if end > start {
        (end - start + step - 1) / step
    } else {
        0
    };
    let mut out = x.0.clone();
    out[a] = Dim::Known(n as u64);
    Ok(Shape(out))
}

fn unsqueeze(x: &Shape, attrs: &Attrs) -> R {
    let axes = attrs
        .ints("axes")
        .ok_or_else(|| err_attr("axes", "unsqueeze needs axes = [..]"))?;
    let rank = x.rank() + axes.len();
    let mut norm: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, rank, "axes"))
        .collect::<Result<_, _>>()?;
    norm.sort_unstable();
    if norm.windows(2).any(|w| w[0] == w[1]) {
        return Err(err_attr(
            "axes",
            format!("unsqueeze axes {axes:?} repeat an axis"),
        ));
    }
    let mut src = x.0.iter();
    Ok(Shape(
        (0..rank)
            .map(|i| {
                if norm.contains(&i) {
                    Dim::Known(1)
                } else {
                    src.next().expect("counted").clone()
                }
            })
            .collect(),
    ))
}

fn squeeze(x: &Shape, attrs: &Attrs) -> R {
    let axes: Vec<usize> = match attrs.ints("axes") {
        Some(v) => v
            .iter()
            .map(|&a| axis(a, x.rank(), "axes"))
            .collect::<Result<_, _>>()?,
        None => (0..x.rank()).filter(|&i| x.0[i] == Dim::Known(1)).collect(),
    };
    for &a in &axes {
        if x.0[a] != Dim::Known(1) {
            return Err(err_attr(
                "axes",
                format!("squeeze axis {a} of {x} has extent {}, not 1", x.0[a]),
            ));
        }
    }
    Ok(Shape(
        x.0.iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, d)| d.clone())
            .collect(),
    ))
}

fn attention(inputs: &[Shape], with_values: bool) -> R {
    let (q, k) = (&inputs[0], &inputs[1]);
    if q.rank() < 2 || k.rank() != q.rank() {
        return Err(err_at(
            1,
            format!("attention needs q[..., L, E] and k[..., S, E] of one rank, got {q} and {k}"),
        ));
    }
    let r = q.rank();
    if !same(&q.0[r - 1], &k.0[r - 1]) {
        return Err(err_at(
            1,
            format!("attention: q {q} and k {k} differ in the feature axis"),
        ));
    }
    let batch = broadcast(&Shape(q.0[..r - 2].to_vec()), &Shape(k.0[..r - 2].to_vec()))?;
    let mut weights = batch.0.clone();
    weights.push(q.0[r - 2].clone());
    weights.push(k.0[r - 2].clone());
    let weights = Shape(weights);
    let mask_index = if with_values { 3 } else { 2 };
    if let Some(m) = inputs.get(mask_index) {
        let b = broadcast(m, &weights)
            .map_err(|e| err_at(mask_index, format!("attention mask: {}", e.message)))?;
        if b != weights {
            return Err(err_at(
                mask_index,
                format!("attention mask {m} must broadcast to the weights {weights}"),
            ));
        }
    }
    if !with_values {
        return Ok(weights);
    }
    let v = &inputs[2];
    if v.rank() != r || !same(&v.0[r - 2], &k.0[r - 2]) {
        return Err(err_at(
            2,
            format!(
                "attention: v {v} must be [..., {}, Ev] to match k {k}",
                k.0[r - 2]
            ),
        ));
    }
    let mut out = batch.0;
    out.push(q.0[r - 2].clone());
    out.push(v.0[r - 1].clone());
    Ok(Shape(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: &[u64]) -> Shape {
        Shape::known(d)
    }
    fn sym(parts: &[&str]) -> Shape {
        Shape(
            parts
                .iter()
                .map(|p| {
                    p.parse()
                        .map(Dim::Known)
                        .unwrap_or_else(|_| Dim::Sym(p.to_string()))
                })
                .collect(),
        )
    }
    fn ints(v: &[i64]) -> AttrValue {
        AttrValue::Ints(v.to_vec())
    }

    #[test]
    fn linear_with_symbolic_batch() {
        let out = infer_shape(
            Op::Linear,
            &[sym(&["B", "784"]), s(&[128, 784]), s(&[128])],
            &Attrs::new(),
        )
        .unwrap();
        assert_eq!(out, sym(&["B", "128"]));
        let e = infer_shape(
            Op::Linear,
            &[sym(&["B", "784"]), s(&[128, 780])],
            &Attrs::new(),
        )
        .unwrap_err();
        assert_eq!(e.input, Some(1));
        assert!(e.message.contains("780"), "{}", e.message);
    }

    #[test]
    fn where_broadcasts_three_ways_and_trilu_needs_a_matrix() {
        let a = Attrs::new();
        let s = |d: &[u64]| Shape::known(d);
        assert_eq!(
            infer_shape(Op::Where, &[s(&[1, 1, 4, 4]), s(&[2, 3, 4, 4]), s(&[])], &a).unwrap(),
            s(&[2, 3, 4, 4])
        );
        let e = infer_shape(Op::Where, &[s(&[3, 4]), s(&[2, 4]), s(&[1])], &a).unwrap_err();
        assert_eq!(e.input, Some(0));
        let e = infer_shape(Op::Where, &[s(&[4]), s(&[2, 4]), s(&[3, 4])], &a).unwrap_err();
        assert_eq!(e.input, Some(2));
        assert_eq!(
            infer_shape(Op::Trilu, &[s(&[2, 5, 3])], &a).unwrap(),
            s(&[2, 5, 3])
        );
        assert!(infer_shape(Op::Trilu, &[s(&[5])], &a).is_err());
        assert_eq!(
            infer_dtype(Op::Where, &[DType::Bool, DType::F64, DType::F64], &a).unwrap(),
            DType::F64
        );
        assert!(infer_dtype(Op::Where, &[DType::Bool, DType::F32, DType::F64], &a).is_err());
        assert!(infer_dtype(Op::Where, &[DType::Bool, DType::I64, DType::I64], &a).is_err());
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(
            broadcast(&s(&[4, 1, 3]), &s(&[5, 1])).unwrap(),
            s(&[4, 5, 3])
        );
        assert_eq!(
            broadcast(&sym(&["B", "3"]), &s(&[3])).unwrap(),
            sym(&["B", "3"])
        );
        assert!(broadcast(&s(&[2, 3]), &s(&[4, 3])).is_err());
        assert!(
            broadcast(&sym(&["B"]), &sym(&["N"])).is_err(),
            "different symbols are not provably equal"
        );
    }

    #[test]
    fn pad_grows_each_axis_and_refuses_what_onnx_runtimes_refuse() {
        let pads = |p: &[i64], mode: &str| {
            Attrs::new()
                .with("pads", AttrValue::Ints(p.to_vec()))
                .with("mode", AttrValue::Str(mode.into()))
        };
        assert_eq!(
            infer_shape(
                Op::Pad,
                &[s(&[1, 3, 4, 5])],
                &pads(&[0, 0, 1, 2, 0, 0, 3, 0], "constant")
            )
            .unwrap(),
            s(&[1, 3, 8, 7])
        );
        // Symbolic axes are fine when not padded.
        assert_eq!(
            infer_shape(Op::Pad, &[sym(&["B", "4"])], &pads(&[0, 1, 0, 1], "edge")).unwrap(),
            sym(&["B", "6"])
        );
        let e = infer_shape(Op::Pad, &[s(&[2, 3])], &pads(&[0, -1, 0, 0], "constant")).unwrap_err();
        assert_eq!(e.attr, Some("pads"));
        assert!(infer_shape(Op::Pad, &[s(&[2, 3])], &pads(&[0, 3, 0, 0], "reflect")).is_err());
        assert!(infer_shape(Op::Pad, &[s(&[2, 3])], &pads(&[0, 2, 0, 2], "reflect")).is_ok());
        assert!(infer_shape(Op::Pad, &[s(&[2, 3])], &pads(&[0, 1], "constant")).is_err());
        assert!(infer_shape(Op::Pad, &[s(&[2, 3])], &pads(&[0, 1, 0, 1], "wrap")).is_err());
        assert!(infer_shape(
            Op::Pad,
            &[sym(&["B", "3"])],
            &pads(&[1, 0, 0, 0], "constant")
        )
        .is_err());
    }

    #[test]
    fn conv_transpose2d_inverts_the_conv_extent_formula() {
        let attrs = Attrs::new()
            .with("stride", AttrValue::Int(2))
            .with("padding", AttrValue::Int(1))
            .with("output_padding", AttrValue::Int(1));
        // PyTorch: ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1) on 5x7 -> 10x14.
        assert_eq!(
            infer_shape(
                Op::ConvTranspose2d,
                &[s(&[1, 4, 5, 7]), s(&[4, 3, 3, 3]), s(&[6])],
                &attrs.clone().with("groups", AttrValue::Int(2))
            )
            .unwrap(),
            s(&[1, 6, 10, 14])
        );
        assert!(infer_shape(
            Op::ConvTranspose2d,
            &[s(&[1, 5, 5, 7]), s(&[4, 3, 3, 3])],
            &attrs
        )
        .is_err());
        let e = infer_shape(
            Op::ConvTranspose2d,
            &[s(&[1, 4, 5, 7]), s(&[4, 3, 3, 3]), s(&[4])],
            &attrs,
        )
        .unwrap_err();
        assert_eq!(e.input, Some(2));
        let bad_op = Attrs::new().with("output_padding", AttrValue::Int(1));
        assert!(infer_shape(
            Op::ConvTranspose2d,
            &[s(&[1, 4, 5, 7]), s(&[4, 3, 3, 3])],
            &bad_op
        )
        .is_err());
    }

    #[test]
    fn prelu_slope_broadcasts_one_way_to_x() {
        let a = Attrs::new();
        assert_eq!(
            infer_shape(Op::Prelu, &[s(&[2, 3, 4, 4]), s(&[3, 1, 1])], &a).unwrap(),
            s(&[2, 3, 4, 4])
        );
        assert_eq!(
            infer_shape(Op::Prelu, &[s(&[2, 3]), s(&[1])], &a).unwrap(),
            s(&[2, 3])
        );
        let e = infer_shape(Op::Prelu, &[s(&[3]), s(&[2, 3])], &a).unwrap_err();
        assert_eq!(e.input, Some(1));
        assert_eq!(
            infer_shape(Op::Maximum, &[s(&[2, 1]), s(&[3])], &a).unwrap(),
            s(&[2, 3])
        );
    }

    #[test]
    fn matmul_promotes_vectors_and_broadcasts_batches() {
        assert_eq!(
            matmul(&s(&[2, 1, 3, 4]), &s(&[5, 4, 6])).unwrap(),
            s(&[2, 5, 3, 6])
        );
        assert_eq!(matmul(&s(&[4]), &s(&[4, 6])).unwrap(), s(&[6]));
        assert_eq!(matmul(&s(&[3, 4]), &s(&[4])).unwrap(), s(&[3]));
        assert!(matmul(&s(&[3, 4]), &s(&[5, 6])).is_err());
    }

    #[test]
    fn conv2d_with_stride_padding_dilation_groups() {
        let attrs = Attrs::new()
            .with("stride", AttrValue::Int(2))
            .with("padding", AttrValue::Int(1));
        let out = infer_shape(
            Op::Conv2d,
            &[s(&[1, 3, 32, 32]), s(&[16, 3, 3, 3]), s(&[16])],
            &attrs,
        )
        .unwrap();
        assert_eq!(out, s(&[1, 16, 16, 16]));
        let dil = Attrs::new().with("dilation", AttrValue::Int(2));
        assert_eq!(
            infer_shape(Op::Conv2d, &[s(&[1, 3, 10, 10]), s(&[4, 3, 3, 3])], &dil).unwrap(),
            s(&[1, 4, 6, 6])
        );
        let grouped = Attrs::new().with("groups", AttrValue::Int(2));
        assert_eq!(
            infer_shape(Op::Conv2d, &[s(&[1, 4, 5, 5]), s(&[6, 2, 1, 1])], &grouped).unwrap(),
            s(&[1, 6, 5, 5])
        );
        assert!(infer_shape(Op::Conv2d, &[s(&[1, 4, 5, 5]), s(&[6, 3, 1, 1])], &grouped).is_err());
        assert!(infer_shape(
            Op::Conv2d,
            &[s(&[1, 3, 2, 2]), s(&[4, 3, 3, 3])],
            &Attrs::new()
        )
        .is_err());
    }

    #[test]
    fn pooling_matches_pytorch_rounding() {
        let a = Attrs::new().with("kernel_size", AttrValue::Int(2));
        assert_eq!(
            infer_shape(Op::MaxPool2d, &[s(&[1, 8, 7, 7])], &a).unwrap(),
            s(&[1, 8, 3, 3])
        );
        let c = a.clone().with("ceil_mode", AttrValue::Bool(true));
        assert_eq!(
            infer_shape(Op::MaxPool2d, &[s(&[1, 8, 7, 7])], &c).unwrap(),
            s(&[1, 8, 4, 4])
        );
        assert!(
            infer_shape(Op::MaxPool2d, &[s(&[1, 8, 7, 7])], &Attrs::new()).is_err(),
            "kernel_size is required"
        );
    }

    #[test]
    fn reshape_infers_minus_one_through_symbols() {
        let a = Attrs::new().with("shape", ints(&[-1, 784]));
        assert_eq!(
            infer_shape(Op::Reshape, &[s(&[2, 1, 28, 28])], &a).unwrap(),
            s(&[2, 784])
        );
        assert_eq!(
            infer_shape(Op::Reshape, &[sym(&["B", "1", "28", "28"])], &a).unwrap(),
            sym(&["B", "784"])
        );
        let bad = Attrs::new().with("shape", ints(&[3, 5]));
        assert!(infer_shape(Op::Reshape, &[s(&[2, 7])], &bad).is_err());
    }

    #[test]
    fn flatten_and_concat_and_slice() {
        assert_eq!(
            infer_shape(Op::Flatten, &[sym(&["B", "16", "4", "4"])], &Attrs::new()).unwrap(),
            sym(&["B", "256"])
        );
        let c = Attrs::new().with("axis", AttrValue::Int(1));
        assert_eq!(
            infer_shape(Op::Concat, &[s(&[2, 3]), s(&[2, 5])], &c).unwrap(),
            s(&[2, 8])
        );
        let sl = Attrs::new()
            .with("axis", AttrValue::Int(1))
            .with("start", AttrValue::Int(1))
            .with("end", AttrValue::Int(-1))
            .with("step", AttrValue::Int(2));
        assert_eq!(
            infer_shape(Op::Slice, &[s(&[2, 10])], &sl).unwrap(),
            s(&[2, 4])
        );
    }

    #[test]
    fn attention_and_losses() {
        let q = sym(&["B", "H", "T", "64"]);
        assert_eq!(
            infer_shape(
                Op::ScaledDotProductAttention,
                &[q.clone(), q.clone(), q.clone()],
                &Attrs::new()
            )
            .unwrap(),
            q
        );
        assert_eq!(
            infer_shape(Op::AttentionWeights, &[q.clone(), q.clone()], &Attrs::new()).unwrap(),
            sym(&["B", "H", "T", "T"])
        );
        assert_eq!(
            infer_shape(
                Op::CrossEntropy,
                &[sym(&["N", "10"]), sym(&["N"])],
                &Attrs::new()
            )
            .unwrap(),
            Shape::scalar()
        );
        assert!(infer_shape(
            Op::CrossEntropy,
            &[sym(&["N", "10"]), sym(&["M"])],
            &Attrs::new()
        )
        .is_err());
        assert_eq!(
            infer_dtype(Op::CrossEntropy, &[DType::F32, DType::I64], &Attrs::new()).unwrap(),
            DType::F32
        );
        assert!(infer_dtype(Op::CrossEntropy, &[DType::F32, DType::F32], &Attrs::new()).is_err());
    }

    #[test]
    fn arity_is_checked_from_the_table() {
        let e = infer_shape(Op::Add, &[s(&[2])], &Attrs::new()).unwrap_err();
        assert!(e.message.contains("takes 2 tensor inputs"), "{}", e.message);
        assert!(infer_shape(
            Op::Linear,
            &[s(&[2, 3]), s(&[4, 3]), s(&[4]), s(&[4])],
            &Attrs::new()
        )
        .is_err());
    }
}
