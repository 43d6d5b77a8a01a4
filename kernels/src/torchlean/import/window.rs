//! TorchLean's window ops (`conv`, `max_pool`, `avg_pool`) -> tl's `conv1d`/`conv2d`,
//! `max_pool2d`/`avg_pool2d`.
//!
//! TorchLean's ops are rank-polymorphic: `conv` keeps every axis before `channel_axis` and slides
//! over every axis after it; the pools slide over the last `spatial_rank` axes and keep the rest.
//! tl's ops want `[N, C, spatial...]` (pools also take `[C, H, W]`), so when the leading axes do
//! not already have that form they are merged into one batch axis by a reshape before the op and
//! split again after it. Both sides apply the same window independently at every leading index,
//! so the reshapes do not change the function. A 1-D pool becomes a 2-D pool over `[1, L]` with
//! a window of height 1.

use super::{nat, nats, Builder, RawNode};
use crate::tensor::Tensor;
use crate::torchlean::TorchLeanError;
use tl_ir::{AttrValue, Attrs, NodeId, Op};

/// Why a window node cannot be imported at all (checked for every node before any is built, so
/// one error lists them all); `None` when it can, or when its fields are malformed (the builder
/// then reports the malformed field).
pub(super) fn refusal(n: &RawNode) -> Option<String> {
    if !matches!(n.kind, "conv" | "max_pool" | "avg_pool") {
        return None;
    }
    let rank = nat(n.obj.get("spatial_rank"), "").ok()?;
    if !(1..=2).contains(&rank) {
        return Some(if n.kind == "conv" {
            format!("tl has conv1d and conv2d; a convolution over {rank} spatial axes has no tl op")
        } else {
            format!("tl pools over one or two axes; a pool over {rank} spatial axes has no tl op")
        });
    }
    let padding = nats(n.obj.get("padding"), "").ok()?;
    if n.kind == "conv" {
        let after = nats(n.obj.get("padding_after"), "").ok()?;
        return (after != padding).then(|| {
            format!(
                "asymmetric padding (before {padding:?}, after {after:?}); tl's conv pads both \
                 sides of an axis equally"
            )
        });
    }
    let kernel = nats(n.obj.get("kernel"), "").ok()?;
    kernel
        .iter()
        .zip(&padding)
        .position(|(&k, &p)| p.saturating_mul(2) > k)
        .map(|axis| {
            format!(
                "padding {} exceeds half the kernel {} on spatial axis {axis}: TorchLean's output \
                 axis is then empty, a window tl's pooling refuses",
                padding[axis], kernel[axis]
            )
        })
}

/// Per-axis geometry shared by the three ops.
struct Window {
    rank: usize,
    kernel: Vec<u64>,
    stride: Vec<u64>,
    padding: Vec<u64>,
}

impl Builder {
    /// Imports a `conv`, `max_pool` or `avg_pool` node whose data parents are `parents`.
    pub(super) fn window(
        &mut self,
        n: &RawNode,
        name: String,
        parents: &[NodeId],
    ) -> Result<NodeId, TorchLeanError> {
        let &[x] = parents else {
            return Err(invalid(
                n,
                format!("`{}` takes one parent, found {}", n.kind, parents.len()),
            ));
        };
        let window = read_window(n)?;
        let xs = self.graph.nodes[x]
            .shape
            .as_known()
            .expect("imported shapes are concrete");
        match n.kind {
            "conv" => self.conv(n, name, x, &xs, window),
            _ => self.pool(n, name, x, &xs, window),
        }
    }

    fn conv(
        &mut self,
        n: &RawNode,
        name: String,
        x: NodeId,
        xs: &[u64],
        w: Window,
    ) -> Result<NodeId, TorchLeanError> {
        let field = |key: &str| nat(n.obj.get(key), &format!("node {} {key}", n.id));
        let (groups, channel_axis) = (field("groups")? as u64, field("channel_axis")?);
        let (in_c, out_c) = (field("in_channels")? as u64, field("out_channels")? as u64);
        let dilation = axes(n, "dilation", w.rank)?;
        let input_spatial = axes(n, "input_spatial", w.rank)?;
        if dilation.contains(&0) {
            return Err(invalid(n, "dilation extents must be nonzero".into()));
        }
        if in_c == 0 || out_c == 0 || groups == 0 || in_c % groups != 0 || out_c % groups != 0 {
            return Err(invalid(
                n,
                format!(
                    "in_channels {in_c} and out_channels {out_c} must be positive multiples of \
                     groups {groups}"
                ),
            ));
        }
        if channel_axis + 1 + w.rank != xs.len() {
            return Err(invalid(
                n,
                format!(
                    "channel_axis {channel_axis} and spatial_rank {} do not fit the input shape \
                     {xs:?}",
                    w.rank
                ),
            ));
        }
        let (leading, rest) = xs.split_at(channel_axis);
        if rest[0] != in_c || rest[1..] != input_spatial[..] {
            return Err(invalid(
                n,
                format!(
                    "in_channels {in_c} and input_spatial {input_spatial:?} do not match the \
                     input shape {xs:?}"
                ),
            ));
        }
        let dense_shape: Vec<u64> = [out_c, in_c].iter().chain(&w.kernel).copied().collect();
        let dense = self.weight(n, "weight", &dense_shape)?;
        let bias = self.weight(n, "bias", &[out_c])?;
        let (packed, packed_shape) = pack_groups(&dense, &dense_shape, groups);
        let weight = self.param(&format!("{name}.weight"), packed, &packed_shape)?;
        let bias = self.param(&format!("{name}.bias"), bias, &[out_c])?;
        let attrs = Attrs::new()
            .with("stride", ints(&w.stride))
            .with("padding", ints(&w.padding))
            .with("dilation", ints(&dilation))
            .with("groups", AttrValue::Int(groups as i64));
        let op = if w.rank == 1 { Op::Conv1d } else { Op::Conv2d };
        let view: Vec<u64> = std::iter::once(batch(n, leading)?)
            .chain(rest.iter().copied())
            .collect();
        let restore = |core: &[u64]| leading.iter().chain(&core[1..]).copied().collect();
        self.in_view(n, name, x, xs, view, restore, |b, core_name, input| {
            b.op(n, core_name, op, vec![input, weight, bias], attrs)
        })
    }

    fn pool(
        &mut self,
        n: &RawNode,
        name: String,
        x: NodeId,
        xs: &[u64],
        w: Window,
    ) -> Result<NodeId, TorchLeanError> {
        if xs.len() < w.rank {
            return Err(invalid(
                n,
                format!(
                    "a pool over {} axes needs that many, input is {xs:?}",
                    w.rank
                ),
            ));
        }
        let (leading, spatial) = xs.split_at(xs.len() - w.rank);
        // A 1-D window is a 2-D window of height 1 over a `[1, L]` plane.
        let lift = |v: &[u64], fill: u64| -> Vec<u64> {
            if v.len() == 1 {
                vec![fill, v[0]]
            } else {
                v.to_vec()
            }
        };
        let (kernel, stride, padding) =
            (lift(&w.kernel, 1), lift(&w.stride, 1), lift(&w.padding, 0));
        let view: Vec<u64> = if w.rank == 2 && (1..=2).contains(&leading.len()) {
            xs.to_vec()
        } else {
            std::iter::once(batch(n, leading)?)
                .chain(lift(spatial, 1))
                .collect()
        };
        let mut attrs = Attrs::new()
            .with("kernel_size", ints(&kernel))
            .with("stride", ints(&stride))
            .with("padding", ints(&padding))
            .with("ceil_mode", AttrValue::Bool(false));
        let op = if n.kind == "max_pool" {
            Op::MaxPool2d
        } else {
            // TorchLean's average counts padded cells as zeros and divides by the whole window.
            attrs = attrs.with("count_include_pad", AttrValue::Bool(true));
            Op::AvgPool2d
        };
        let rank = w.rank;
        let restore = |core: &[u64]| {
            leading
                .iter()
                .chain(&core[core.len() - rank..])
                .copied()
                .collect()
        };
        self.in_view(n, name, x, xs, view, restore, |b, core_name, input| {
            b.op(n, core_name, op, vec![input], attrs)
        })
    }

    /// Runs `core` on `x` reshaped to `view`, then reshapes its result to `restore(core shape)`.
    /// When `view` is `x`'s own shape the core node is the whole import and carries `name`.
    #[allow(clippy::too_many_arguments)]
    fn in_view(
        &mut self,
        n: &RawNode,
        name: String,
        x: NodeId,
        xs: &[u64],
        view: Vec<u64>,
        restore: impl Fn(&[u64]) -> Vec<u64>,
        core: impl FnOnce(&mut Self, String, NodeId) -> Result<NodeId, TorchLeanError>,
    ) -> Result<NodeId, TorchLeanError> {
        if view == xs {
            return core(self, name, x);
        }
        let view_name = self.fresh(&format!("{name}_view"));
        let viewed = self.op(n, view_name, Op::Reshape, vec![x], reshape_to(&view))?;
        let core_name = self.fresh(&format!("{name}_core"));
        let c = core(self, core_name, viewed)?;
        let out = restore(
            &self.graph.nodes[c]
                .shape
                .as_known()
                .expect("imported shapes are concrete"),
        );
        self.op(n, name, Op::Reshape, vec![c], reshape_to(&out))
    }
}

fn read_window(n: &RawNode) -> Result<Window, TorchLeanError> {
    let rank = nat(
        n.obj.get("spatial_rank"),
        &format!("node {} spatial_rank", n.id),
    )?;
    let w = Window {
        rank,
        kernel: axes(n, "kernel", rank)?,
        stride: axes(n, "stride", rank)?,
        padding: axes(n, "padding", rank)?,
    };
    if w.kernel.contains(&0) || w.stride.contains(&0) {
        return Err(invalid(
            n,
            "kernel and stride extents must be nonzero".into(),
        ));
    }
    Ok(w)
}

/// A per-spatial-axis field: `rank` naturals.
fn axes(n: &RawNode, key: &str, rank: usize) -> Result<Vec<u64>, TorchLeanError> {
    let v = nats(n.obj.get(key), &format!("node {} {key}", n.id))?;
    if v.len() != rank {
        return Err(invalid(
            n,
            format!("`{key}` has {} entries, spatial_rank is {rank}", v.len()),
        ));
    }
    Ok(v.into_iter().map(|d| d as u64).collect())
}

/// The extent of the one batch axis the leading axes merge into.
fn batch(n: &RawNode, leading: &[u64]) -> Result<u64, TorchLeanError> {
    leading
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| invalid(n, format!("leading extents {leading:?} overflow")))
}

fn invalid(n: &RawNode, detail: String) -> TorchLeanError {
    TorchLeanError::InvalidGraph {
        node: n.id.to_string(),
        detail,
    }
}

fn ints(v: &[u64]) -> AttrValue {
    AttrValue::Ints(v.iter().map(|&d| d as i64).collect())
}

fn reshape_to(shape: &[u64]) -> Attrs {
    Attrs::new().with("shape", ints(shape))
}

/// TorchLean's grouped weights are block-diagonal and dense, `[O, C, k...]`: output channel `o`
/// of group `g` reads only input channels `g * C/groups ..` (the rest of its row is never read).
/// tl, like PyTorch, stores just those blocks: `[O, C/groups, k...]`.
fn pack_groups(dense: &Tensor, shape: &[u64], groups: u64) -> (Tensor, Vec<u64>) {
    let (out_c, in_c) = (shape[0] as usize, shape[1] as usize);
    let taps: usize = shape[2..].iter().product::<u64>() as usize;
    let g = groups as usize;
    let (in_per, out_per) = (in_c / g, out_c / g);
    let data = dense.to_f64();
    let flat = data.as_slice().expect("weights are in standard layout");
    let mut packed = Vec::with_capacity(out_c * in_per * taps);
    for o in 0..out_c {
        let first = (o / out_per) * in_per;
        let row = &flat[o * in_c * taps..(o + 1) * in_c * taps];
        packed.extend_from_slice(&row[first * taps..(first + in_per) * taps]);
    }
    let packed_shape: Vec<u64> = [out_c as u64, in_per as u64]
        .iter()
        .chain(&shape[2..])
        .copied()
        .collect();
    let dims: Vec<usize> = packed_shape.iter().map(|&d| d as usize).collect();
    let t = Tensor::from_f64(&dims, packed).expect("packed shape matches its data");
    (t, packed_shape)
}
