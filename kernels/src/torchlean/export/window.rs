//! tl's `conv1d`/`conv2d`, `max_pool2d`/`avg_pool2d` and `global_avg_pool` -> TorchLean's
//! `conv`, `max_pool`, `avg_pool`.
//!
//! tl's ops act on `[N, C, spatial...]` (pools also on `[C, H, W]`); TorchLean's keep every axis
//! before the window, so the export needs no reshapes: `conv` gets `channel_axis = 1` and the
//! pools slide over the last two axes. TorchLean's pooling rounds output extents down, ignores
//! padded cells in a max and counts them as zeros in an average over the whole window; the
//! configurations where tl computes something else are refused.

use super::{nested, Writer};
use crate::tensor::Tensor;
use crate::torchlean::TorchLeanError;
use serde_json::{json, Map, Value};
use tl_ir::{Attrs, NodeId, Op};

/// tl's pooling attributes, defaulted the way its shape rule defaults them.
struct PoolAttrs {
    kernel: Vec<u64>,
    stride: Vec<u64>,
    padding: Vec<u64>,
    dilation: Vec<u64>,
}

fn pool_attrs(attrs: &Attrs) -> PoolAttrs {
    let two = |name: &str, default: i64| -> Vec<u64> {
        attrs
            .spatial(name, 2, default)
            .unwrap_or_default()
            .iter()
            .map(|&v| v as u64)
            .collect()
    };
    let kernel = two("kernel_size", 0);
    let stride = if attrs.get("stride").is_some() {
        two("stride", 1)
    } else {
        kernel.clone()
    };
    PoolAttrs {
        kernel,
        stride,
        padding: two("padding", 0),
        dilation: two("dilation", 1),
    }
}

/// Why a pooling node `id` over input `x` has no TorchLean form, or `None`.
pub(super) fn pool_refusal(
    shapes: &[Vec<u64>],
    id: NodeId,
    x: NodeId,
    op: Op,
    attrs: &Attrs,
) -> Option<String> {
    if op == Op::GlobalAvgPool {
        return (shapes[x].len() < 3)
            .then(|| "TorchLean's avg_pool needs at least one spatial axis".into());
    }
    let p = pool_attrs(attrs);
    if p.dilation != [1, 1] {
        return Some(format!(
            "dilation {:?}: TorchLean's pooling windows are contiguous",
            p.dilation
        ));
    }
    if op == Op::AvgPool2d
        && !attrs.bool("count_include_pad", true)
        && p.padding.iter().any(|&v| v > 0)
    {
        return Some(
            "count_include_pad = false with padding: TorchLean's average divides by the whole \
             window, padded cells included"
                .into(),
        );
    }
    // With ceil_mode tl may add a last, partial window; when it adds none the windows (and
    // their divisors) are those of TorchLean's floor rounding.
    let xs = &shapes[x];
    let out = &shapes[id];
    let floor: Vec<u64> = (0..2)
        .map(|a| (xs[xs.len() - 2 + a] + 2 * p.padding[a] - p.kernel[a]) / p.stride[a] + 1)
        .collect();
    if out[out.len() - 2..] != floor[..] {
        return Some(format!(
            "ceil_mode gives output extents {:?}; TorchLean's pooling rounds down to {floor:?}",
            &out[out.len() - 2..]
        ));
    }
    None
}

/// The fields of a `max_pool`/`avg_pool` node pooling an input of shape `xs`.
pub(super) fn pool_fields(xs: &[u64], attrs: &Attrs, op: Op, extra: &mut Map<String, Value>) {
    let (kernel, stride, padding) = if op == Op::GlobalAvgPool {
        let spatial = xs[2..].to_vec();
        let n = spatial.len();
        (spatial, vec![1; n], vec![0; n])
    } else {
        let p = pool_attrs(attrs);
        (p.kernel, p.stride, p.padding)
    };
    extra.insert("spatial_rank".into(), json!(kernel.len()));
    extra.insert("kernel".into(), json!(kernel));
    extra.insert("stride".into(), json!(stride));
    extra.insert("padding".into(), json!(padding));
}

impl Writer<'_> {
    /// The fields of the `conv` node for tl conv node `i` (weights must be params or constants).
    pub(super) fn conv_fields(
        &self,
        i: NodeId,
        attrs: &Attrs,
        extra: &mut Map<String, Value>,
    ) -> Result<(), TorchLeanError> {
        let parents = &self.graph.nodes[i].parents;
        let (xs, ws) = (&self.shapes[parents[0]], &self.shapes[parents[1]]);
        let rank = ws.len() - 2;
        let per_axis = |name: &str, default: i64| -> Vec<u64> {
            attrs
                .spatial(name, rank, default)
                .unwrap_or_default()
                .iter()
                .map(|&v| v as u64)
                .collect()
        };
        let padding = per_axis("padding", 0);
        let groups = attrs.int("groups", 1) as u64;
        let (in_c, out_c) = (xs[1], ws[0]);
        extra.insert("spatial_rank".into(), json!(rank));
        extra.insert("kernel".into(), json!(ws[2..]));
        extra.insert("stride".into(), json!(per_axis("stride", 1)));
        extra.insert("padding".into(), json!(padding));
        extra.insert("padding_after".into(), json!(padding));
        extra.insert("dilation".into(), json!(per_axis("dilation", 1)));
        extra.insert("groups".into(), json!(groups));
        extra.insert("channel_axis".into(), json!(1));
        extra.insert("input_spatial".into(), json!(xs[2..]));
        extra.insert("in_channels".into(), json!(in_c));
        extra.insert("out_channels".into(), json!(out_c));
        let name = &self.graph.nodes[i].name;
        let dense_shape: Vec<u64> = [out_c, in_c].iter().chain(&ws[2..]).copied().collect();
        let dense = expand_groups(&self.tensor(parents[1])?, &dense_shape, groups);
        extra.insert(
            "weight".into(),
            nested(&dense, &dense_shape, name, "weight")?,
        );
        let bias = match parents.get(2) {
            Some(&b) => self.field(i, b, "bias", &[out_c])?,
            None => json!(vec![0.0; out_c as usize]),
        };
        extra.insert("bias".into(), bias);
        Ok(())
    }
}

/// tl's grouped weight `[O, C/groups, k...]` as TorchLean's dense block-diagonal `[O, C, k...]`:
/// output channel `o` of group `g` holds its weights at input channels `g * C/groups ..` and
/// zeros elsewhere.
fn expand_groups(packed: &Tensor, dense_shape: &[u64], groups: u64) -> Tensor {
    let (out_c, in_c) = (dense_shape[0] as usize, dense_shape[1] as usize);
    let taps = dense_shape[2..].iter().product::<u64>() as usize;
    let g = groups as usize;
    let (in_per, out_per) = (in_c / g, out_c / g);
    let data = packed.to_f64();
    let flat = data.as_slice().expect("weights are in standard layout");
    let mut dense = vec![0.0; out_c * in_c * taps];
    for o in 0..out_c {
        let first = (o / out_per) * in_per;
        let src = &flat[o * in_per * taps..(o + 1) * in_per * taps];
        let row = o * in_c * taps;
        dense[row + first * taps..row + (first + in_per) * taps].copy_from_slice(src);
    }
    let dims: Vec<usize> = dense_shape.iter().map(|&d| d as usize).collect();
    Tensor::from_f64(&dims, dense).expect("dense shape matches its data")
}
