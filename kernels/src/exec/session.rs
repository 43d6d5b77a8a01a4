//! Running a compiled plan many times without allocating: a [`Session`] owns one buffer per
//! intermediate value, sized for the input shapes it last saw, and runs the plan's fast schedule
//! into them.
//!
//! Binding (the first run, and any run whose input shapes, dtypes or layouts differ from the last)
//! runs the plan's generic steps once, which checks the inputs exactly as [`Plan::run`] does and
//! gives every buffer its shape and dtype. Later runs compare the inputs with the bound ones and
//! write through the same buffers; f32 inputs in standard layout are read in place, others are
//! converted into a buffer of their own.

mod batched;
mod copies;
mod fast_kernels;
mod norms;

use super::bind::{bind_input, SymbolTable};
use super::compiled::Plan;
use super::schedule::{AxisOrder, FastKind, FastStep};
use super::{ExecError, ExecResult};
use crate::cpu::{
    avg_pool2d_into, gemm_packed_into, max_pool2d_into, unary_chain_in_place, MatrixStrides,
    ReduceOp,
};
use crate::dtype::DType;
use crate::tensor::normalize_axis;
use crate::tensor::Tensor;
use crate::KernelError;
use batched::{attention_into, AttentionOperands, AttentionShape, KeepMask, MatmulShape};
use copies::{around, concat_part_into, gather_indices_fit, gather_into, slice_into, slice_range};
use fast_kernels::{
    binary_broadcast_into, binary_same_shape_into, layer_norm_into, permute_into, reduce_into,
    softmax_into, Dims, MAX_RANK,
};
use ndarray::Zip;
use norms::{batch_norm_into, rms_norm_into, ChannelParams};
use std::collections::BTreeMap;

/// A plan with buffers for repeated runs. `run` is allocation-free in steady state for graphs
/// whose steps all have fast kernels (see `PlanStats::generic_steps`).
#[derive(Debug)]
pub struct Session<'p> {
    plan: &'p Plan,
    arena: Arena,
}

/// The buffers a session owns; also cached inside a plan for [`Plan::run`].
#[derive(Debug, Default)]
pub(crate) struct Arena {
    /// Per plan input: what the buffers were sized for.
    bound: Vec<Option<BoundInput>>,
    /// Per schedule slot: the value's buffer (None for params, inputs read in place and
    /// intermediates of fused steps).
    bufs: Vec<Option<Tensor>>,
    /// im2col space shared by the convolutions.
    scratch: Vec<f32>,
    /// Plan::run only: the inputs of the last call that ran without binding.
    last_unbound: Vec<(Vec<usize>, DType, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
struct BoundInput {
    shape: Vec<usize>,
    dtype: DType,
    standard: bool,
    /// Read in place (f32 or i64 as the engine wants it, standard layout).
    direct: bool,
}

impl<'p> Session<'p> {
    pub(crate) fn new(plan: &'p Plan) -> Self {
        Session {
            plan,
            arena: Arena::default(),
        }
    }

    /// Runs the plan on `inputs`, given in the order of [`Plan::input_names`]. Outputs are read
    /// with [`Session::output`] or [`Session::outputs`] until the next run.
    pub fn run(&mut self, inputs: &[&Tensor]) -> ExecResult<()> {
        self.arena.run(self.plan, |i| inputs.get(i).copied())
    }

    /// Runs the plan on inputs by name, as [`Plan::run`] takes them.
    pub fn run_named(&mut self, inputs: &BTreeMap<String, Tensor>) -> ExecResult<()> {
        let plan = self.plan;
        self.arena.run(plan, |i| inputs.get(plan.input_name(i)))
    }

    /// The output `name` of the last successful run.
    pub fn output(&self, name: &str) -> Option<&Tensor> {
        self.arena.output(self.plan, name)
    }

    /// Every output of the last successful run, in the graph's order.
    pub fn outputs(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.arena.outputs(self.plan)
    }
}

impl Arena {
    pub(crate) fn output<'a>(&'a self, plan: &Plan, name: &str) -> Option<&'a Tensor> {
        let slot = plan.schedule().outputs.iter().find(|(n, _)| n == name)?.1;
        self.bufs.get(slot)?.as_ref()
    }

    pub(crate) fn outputs<'a>(
        &'a self,
        plan: &'a Plan,
    ) -> impl Iterator<Item = (&'a str, &'a Tensor)> + 'a {
        plan.schedule()
            .outputs
            .iter()
            .filter_map(|(name, slot)| Some((name.as_str(), self.bufs.get(*slot)?.as_ref()?)))
    }

    /// For [`Plan::run`]: runs the fast schedule when the buffers fit these inputs, or when the
    /// previous call had inputs of the same shapes (so binding pays off); otherwise notes the
    /// shapes and returns `Ok(false)`: a one-off shape is cheaper on the generic steps.
    pub(crate) fn run_if_repeated<'t>(
        &mut self,
        plan: &Plan,
        input: impl Fn(usize) -> Option<&'t Tensor>,
    ) -> ExecResult<bool> {
        let signature = |i: usize| input(i).map(|t| (t.shape(), t.dtype(), standard(t)));
        let repeated = self.last_unbound.len() == plan.input_count()
            && self
                .last_unbound
                .iter()
                .enumerate()
                .all(|(i, (shape, dtype, std))| {
                    signature(i) == Some((shape.as_slice(), *dtype, *std))
                });
        if self.is_bound(plan, &input) || repeated {
            self.run(plan, input)?;
            return Ok(true);
        }
        self.last_unbound = (0..plan.input_count())
            .filter_map(|i| signature(i).map(|(s, d, std)| (s.to_vec(), d, std)))
            .collect();
        Ok(false)
    }

    pub(crate) fn run<'t>(
        &mut self,
        plan: &Plan,
        input: impl Fn(usize) -> Option<&'t Tensor>,
    ) -> ExecResult<()> {
        if !self.is_bound(plan, &input) {
            self.bind(plan, &input)?;
        }
        self.stage(plan, &input)?;
        for step in &plan.schedule().steps {
            self.exec(plan, step, &input)?;
        }
        Ok(())
    }

    fn is_bound<'t>(&self, plan: &Plan, input: &impl Fn(usize) -> Option<&'t Tensor>) -> bool {
        self.bound.len() == plan.input_count()
            && self
                .bound
                .iter()
                .enumerate()
                .all(|(i, b)| match (b, input(i)) {
                    (Some(b), Some(t)) => {
                        b.shape == t.shape() && b.dtype == t.dtype() && b.standard == standard(t)
                    }
                    _ => false,
                })
    }

    /// Checks the inputs and sizes every buffer by running the generic steps once.
    fn bind<'t>(
        &mut self,
        plan: &Plan,
        input: &impl Fn(usize) -> Option<&'t Tensor>,
    ) -> ExecResult<()> {
        self.bound.clear();
        let schedule = plan.schedule();
        let mut vals: Vec<Option<Tensor>> = vec![None; schedule.slots];
        let mut syms = SymbolTable::default();
        let mut bound = Vec::with_capacity(plan.input_count());
        for i in 0..plan.input_count() {
            let (name, slot, shape, declared) = plan.input(i);
            let given = input(i);
            let value = bind_input(&mut syms, name, shape, declared, given, DType::F32)?;
            let t = given.expect("bind_input refuses a missing input");
            bound.push(Some(BoundInput {
                shape: t.shape().to_vec(),
                dtype: t.dtype(),
                standard: standard(t),
                direct: standard(t) && t.dtype() == value.dtype(),
            }));
            vals[slot] = Some(standard_copy(value));
        }
        for step in plan.steps() {
            let args = step
                .operands
                .iter()
                .map(|&s| value_in(plan, &vals, s).ok_or_else(|| plan_bug(&step.node)))
                .collect::<ExecResult<Vec<_>>>()?;
            let v = plan.exec_generic(step, &args)?;
            vals[step.output] = Some(standard_copy(v));
        }
        let mut scratch = 0usize;
        for step in &schedule.steps {
            match &step.kind {
                FastKind::Copy if step.origin.is_empty() => {
                    let v = value_in(plan, &vals, step.operands[0])
                        .ok_or_else(|| plan_bug(&step.node))?
                        .clone();
                    vals[step.output] = Some(v);
                }
                FastKind::Conv2d { conv, pool, .. } => {
                    if let Some(x) = value_in(plan, &vals, step.operands[0]) {
                        let needed = match pool {
                            None => conv.scratch_len(x.shape()),
                            Some(_) => conv.pooled_scratch_len(x.shape()),
                        };
                        scratch = scratch.max(needed.unwrap_or(0));
                    }
                }
                FastKind::Attention { k, .. } => {
                    let keys = step
                        .operands
                        .get(*k)
                        .and_then(|&s| value_in(plan, &vals, s));
                    if let Some(&[.., s, _]) = keys.map(|t| t.shape()) {
                        scratch = scratch.max(s);
                    }
                }
                _ => {}
            }
        }
        // Keep buffers only where the fast schedule writes, or an input is converted.
        for (slot, v) in vals.iter_mut().enumerate() {
            let staged = plan
                .input_of_slot(slot)
                .is_some_and(|i| bound[i].as_ref().is_some_and(|b| !b.direct));
            if !(schedule.written[slot] || staged) {
                *v = None;
            }
        }
        self.bufs = vals;
        self.scratch = vec![0.0; scratch];
        self.bound = bound;
        Ok(())
    }

    /// Converts the inputs that are not read in place into their buffers.
    fn stage<'t>(
        &mut self,
        plan: &Plan,
        input: &impl Fn(usize) -> Option<&'t Tensor>,
    ) -> ExecResult<()> {
        for i in 0..plan.input_count() {
            if self.bound[i].as_ref().is_some_and(|b| b.direct) {
                continue;
            }
            let slot = plan.input(i).1;
            let (Some(src), Some(dst)) = (input(i), self.bufs[slot].as_mut()) else {
                return Err(plan_bug("input staging"));
            };
            match (dst, src) {
                (Tensor::F32(d), Tensor::F32(s)) => d.assign(s),
                (Tensor::F32(d), Tensor::F64(s)) => {
                    Zip::from(d).and(s).for_each(|d, &s| *d = s as f32)
                }
                (Tensor::I64(d), Tensor::I64(s)) => d.assign(s),
                _ => return Err(plan_bug("input staging")),
            }
        }
        Ok(())
    }

    /// Runs one fast step, or its generic steps when the fast kernel does not apply.
    fn exec<'t>(
        &mut self,
        plan: &Plan,
        step: &FastStep,
        input: &impl Fn(usize) -> Option<&'t Tensor>,
    ) -> ExecResult<()> {
        let mut out = self.bufs[step.output].take();
        let done = match out.as_mut() {
            Some(Tensor::F32(o)) if o.is_standard_layout() => {
                let out_dims = Dims::new(o.shape());
                let o = o.as_slice_mut().expect("standard layout");
                let (bound, bufs) = (&self.bound, &self.bufs);
                let value = |s| lookup(plan, bound, bufs, input, s);
                fast(step, value, (o, out_dims), &mut self.scratch)
            }
            _ => Ok(false),
        };
        self.bufs[step.output] = out;
        let kernel = |source| ExecError::Kernel {
            node: step.node.clone(),
            source,
        };
        if done.map_err(kernel)? {
            if !step.post.is_empty() {
                if let Some(Tensor::F32(o)) = self.bufs[step.output].as_mut() {
                    unary_chain_in_place(&step.post, o.view_mut()).map_err(kernel)?;
                }
            }
            return Ok(());
        }
        self.generic(plan, step, input)
    }

    /// The generic kernels a fast step stands for; each allocates its result.
    fn generic<'t>(
        &mut self,
        plan: &Plan,
        step: &FastStep,
        input: &impl Fn(usize) -> Option<&'t Tensor>,
    ) -> ExecResult<()> {
        if step.origin.is_empty() {
            let v = self
                .value(plan, input, step.operands[0])
                .ok_or_else(|| plan_bug(&step.node))?
                .clone();
            self.bufs[step.output] = Some(v);
            return Ok(());
        }
        for &index in &step.origin {
            let s = &plan.steps()[index];
            let args = s
                .operands
                .iter()
                .map(|&slot| {
                    self.value(plan, input, slot)
                        .ok_or_else(|| plan_bug(&s.node))
                })
                .collect::<ExecResult<Vec<_>>>()?;
            let v = plan.exec_generic(s, &args)?;
            self.bufs[s.output] = Some(v);
        }
        Ok(())
    }

    fn value<'a, 't: 'a>(
        &'a self,
        plan: &'a Plan,
        input: &impl Fn(usize) -> Option<&'t Tensor>,
        slot: usize,
    ) -> Option<&'a Tensor> {
        lookup(plan, &self.bound, &self.bufs, input, slot)
    }
}

/// A slot's value during a run: a param or constant, an input read in place, or a buffer.
fn lookup<'a, 't: 'a>(
    plan: &'a Plan,
    bound: &'a [Option<BoundInput>],
    bufs: &'a [Option<Tensor>],
    input: &impl Fn(usize) -> Option<&'t Tensor>,
    slot: usize,
) -> Option<&'a Tensor> {
    if let Some(t) = plan.fixed_value(slot) {
        return Some(t);
    }
    if let Some(i) = plan.input_of_slot(slot) {
        if bound[i].as_ref().is_some_and(|b| b.direct) {
            return input(i);
        }
    }
    bufs.get(slot)?.as_ref()
}

/// A slot's value while binding: params and constants from the plan, the rest from `vals`.
fn value_in<'a>(plan: &'a Plan, vals: &'a [Option<Tensor>], slot: usize) -> Option<&'a Tensor> {
    plan.fixed_value(slot).or_else(|| vals.get(slot)?.as_ref())
}

/// Runs `step`'s fast kernel into `out` (its values and, up to [`MAX_RANK`], its shape);
/// `Ok(false)` when its operands do not suit it (not f32, not standard layout, unexpected
/// rank, anything the generic kernel would refuse), so the generic kernels must run instead.
fn fast<'a>(
    step: &FastStep,
    value: impl Fn(usize) -> Option<&'a Tensor>,
    (out, out_dims): (&mut [f32], Option<Dims>),
    scratch: &mut [f32],
) -> Result<bool, KernelError> {
    let Some(x) = step.operands.first().and_then(|&s| value(s)) else {
        return Ok(false);
    };
    let Tensor::F32(xa) = x else {
        return Ok(false);
    };
    let Some(xs) = xa.as_slice() else {
        return Ok(false);
    };
    match &step.kind {
        FastKind::Linear { weight, epilogue } => {
            let Some((&k, lead)) = xa.shape().split_last() else {
                return Ok(false);
            };
            let rows: usize = lead.iter().product();
            if k != weight.k() || out.len() != rows * weight.n() {
                return Ok(false);
            }
            gemm_packed_into(
                rows,
                xs,
                k,
                weight,
                *epilogue,
                out,
                MatrixStrides::row_major(weight.n()),
            )?;
        }
        FastKind::Conv2d {
            conv,
            epilogue,
            pool,
        } => {
            if xa.ndim() != 4 {
                return Ok(false);
            }
            match pool {
                None => conv.run_into(xs, xa.shape(), *epilogue, scratch, out)?,
                // A plane smaller than the window: the generic kernels report it.
                Some(p) if conv.pooled_output_shape(xa.shape(), *p).is_err() => return Ok(false),
                Some(p) => conv.run_pooled_into(xs, xa.shape(), *epilogue, *p, scratch, out)?,
            }
        }
        FastKind::MaxPool2d(p) if xa.ndim() == 4 => max_pool2d_into(xa.view(), p, out)?,
        FastKind::AvgPool2d(p) if xa.ndim() == 4 => avg_pool2d_into(xa.view(), p, out)?,
        FastKind::Chain(ops) => {
            if xs.len() != out.len() {
                return Ok(false);
            }
            out.copy_from_slice(xs);
            let mut view = ndarray::ArrayViewMut1::from(out);
            unary_chain_in_place(ops, view.view_mut().into_dyn())?;
        }
        FastKind::Binary(op) => {
            let Some(Tensor::F32(ba)) = step.operands.get(1).and_then(|&s| value(s)) else {
                return Ok(false);
            };
            match ba.as_slice() {
                Some(bs) if ba.shape() == xa.shape() && bs.len() == out.len() => {
                    binary_same_shape_into(*op, xs, bs, out)?;
                }
                Some(bs) => {
                    // Broadcasting: the output buffer has the broadcast shape.
                    let (Some(ad), Some(bd), Some(od)) =
                        (Dims::new(xa.shape()), Dims::new(ba.shape()), out_dims)
                    else {
                        return Ok(false);
                    };
                    binary_broadcast_into(*op, (xs, &ad), (bs, &bd), out, &od)?;
                }
                None => return Ok(false),
            }
        }
        FastKind::Softmax { axis, log } => {
            let (Some(dims), Ok(axis)) = (
                Dims::new(xa.shape()),
                normalize_axis("softmax", *axis, xa.ndim()),
            ) else {
                return Ok(false);
            };
            if xs.len() != out.len() {
                return Ok(false);
            }
            softmax_into(xs, &dims, axis, *log, out)?;
        }
        FastKind::LayerNorm {
            normalized_shape,
            eps,
            weight,
            bias,
        } => {
            let param = |pos: usize| match step.operands.get(pos).and_then(|&s| value(s)) {
                Some(Tensor::F32(p)) => p.as_slice().map(|v| (v, p.shape())),
                _ => None,
            };
            let w = weight.then(|| param(1));
            let b = bias.then(|| param(1 + usize::from(*weight)));
            let (Some(w), Some(b)) = (w.unwrap_or(Some((&[], &[]))), b.unwrap_or(Some((&[], &[]))))
            else {
                return Ok(false);
            };
            let shape = xa.shape();
            let normalized = match normalized_shape {
                Some(n) => n.as_slice(),
                None if *weight => w.1,
                None => &shape[shape.len().saturating_sub(1)..],
            };
            let params_fit = [(*weight, w.1), (*bias, b.1)]
                .iter()
                .all(|&(given, p)| !given || p == normalized);
            let inner: usize = normalized.iter().product();
            if normalized.is_empty()
                || !shape.ends_with(normalized)
                || !params_fit
                || inner == 0
                || !(eps.is_finite() && *eps >= 0.0)
                || xs.len() != out.len()
            {
                return Ok(false);
            }
            let (w, b) = (weight.then_some(w.0), bias.then_some(b.0));
            layer_norm_into(xs, inner, w, b, *eps, out)?;
        }
        FastKind::Permute(order) => {
            let Some(dims) = Dims::new(xa.shape()) else {
                return Ok(false);
            };
            let rank = xa.ndim();
            let mut perm = [0usize; MAX_RANK];
            let perm = &mut perm[..rank];
            perm.iter_mut().enumerate().for_each(|(i, p)| *p = i);
            let mut seen = [false; MAX_RANK];
            match order {
                AxisOrder::Swap(d0, d1) => {
                    let (Ok(a), Ok(b)) = (
                        normalize_axis("transpose", *d0, rank),
                        normalize_axis("transpose", *d1, rank),
                    ) else {
                        return Ok(false);
                    };
                    perm.swap(a, b);
                }
                AxisOrder::Order(order) if order.len() == rank => {
                    for (p, &d) in perm.iter_mut().zip(order) {
                        match normalize_axis("permute", d, rank) {
                            Ok(a) if !std::mem::replace(&mut seen[a], true) => *p = a,
                            _ => return Ok(false),
                        }
                    }
                }
                AxisOrder::Order(_) => return Ok(false),
            }
            if xs.len() != out.len() {
                return Ok(false);
            }
            permute_into(xs, &dims, perm, out)?;
        }
        FastKind::Reduce { op, axes } => {
            let Some(dims) = Dims::new(xa.shape()) else {
                return Ok(false);
            };
            let rank = xa.ndim();
            let mut reduced = [false; MAX_RANK];
            match axes {
                None => reduced[..rank].fill(true),
                Some(axes) => {
                    for &a in axes {
                        match normalize_axis(op.name(), a, rank) {
                            Ok(a) if !std::mem::replace(&mut reduced[a], true) => {}
                            _ => return Ok(false),
                        }
                    }
                }
            }
            let empty_max =
                *op == ReduceOp::Max && (0..rank).any(|d| reduced[d] && xa.shape()[d] == 0);
            if empty_max {
                return Ok(false);
            }
            reduce_into(*op, xs, &dims, &reduced, out)?;
        }
        FastKind::Copy => {
            if xs.len() != out.len() {
                return Ok(false);
            }
            out.copy_from_slice(xs);
        }
        FastKind::MatMul => {
            let Some(Tensor::F32(ba)) = step.operands.get(1).and_then(|&s| value(s)) else {
                return Ok(false);
            };
            let (Some(bs), Some(shape)) = (ba.as_slice(), MatmulShape::of(xa.shape(), ba.shape()))
            else {
                return Ok(false);
            };
            if shape.numel() != out.len() {
                return Ok(false);
            }
            batched::matmul_into((xs, xa.shape()), (bs, ba.shape()), &shape, out)?;
        }
        FastKind::Attention {
            causal,
            scale,
            weights,
            q,
            k,
            v,
            mask,
        } => {
            let operand = |pos: usize| step.operands.get(pos).and_then(|&s| value(s));
            let f32_at = |pos: usize| match operand(pos) {
                Some(Tensor::F32(a)) => a.as_slice().map(|v| (v, a.shape())),
                _ => None,
            };
            let (Some(q), Some(k), Some(v)) = (f32_at(*q), f32_at(*k), f32_at(*v)) else {
                return Ok(false);
            };
            let mask = match mask.map(|pos| operand(pos).and_then(keep_mask)) {
                None => None,
                Some(None) => return Ok(false),
                Some(Some(m)) => Some(m),
            };
            let shape = AttentionShape::of(q.1, k.1, v.1, mask.map(|m| m.1), *scale);
            let Some(shape) = shape
                .filter(|sh| sh.numel(*weights) == out.len() && sh.scratch_len() <= scratch.len())
            else {
                return Ok(false);
            };
            let operands = AttentionOperands { q, k, v, mask };
            attention_into(&operands, &shape, *causal, *weights, out, scratch)?;
        }
        FastKind::Concat { axis } => {
            let Ok(a) = normalize_axis("concat", *axis, xa.ndim()) else {
                return Ok(false);
            };
            let part = |slot: usize| match value(slot) {
                Some(Tensor::F32(p)) => p.as_slice().map(|v| (v, p.shape())),
                _ => None,
            };
            let mut total = 0usize;
            for &slot in &step.operands {
                let Some((_, shape)) = part(slot) else {
                    return Ok(false);
                };
                let same = shape.len() == xa.ndim()
                    && (0..shape.len()).all(|d| d == a || shape[d] == xa.shape()[d]);
                match total.checked_add(shape.get(a).copied().unwrap_or(0)) {
                    Some(t) if same => total = t,
                    _ => return Ok(false),
                }
            }
            let (outer, _, inner) = around(xa.shape(), a);
            if outer.checked_mul(total).and_then(|v| v.checked_mul(inner)) != Some(out.len()) {
                return Ok(false);
            }
            let mut offset = 0;
            for &slot in &step.operands {
                let (values, shape) = part(slot).ok_or_else(|| fast_bug("concat"))?;
                let extents = around(shape, a);
                concat_part_into(values, extents, total, offset, out)?;
                offset += extents.1;
            }
        }
        FastKind::Slice {
            axis,
            start,
            end,
            step: stride,
        } => {
            let Ok(a) = normalize_axis("slice", *axis, xa.ndim()) else {
                return Ok(false);
            };
            let extents = around(xa.shape(), a);
            let Some((first, count)) = slice_range(extents.1, *start, *end, *stride) else {
                return Ok(false);
            };
            if extents.0 * count * extents.2 != out.len() {
                return Ok(false);
            }
            slice_into(xs, extents, (first, count, *stride as usize), out)?;
        }
        FastKind::Gather { axis } => {
            let Some(Tensor::I64(ia)) = step.operands.get(1).and_then(|&s| value(s)) else {
                return Ok(false);
            };
            let (Some(indices), Ok(a)) =
                (ia.as_slice(), normalize_axis("gather", *axis, xa.ndim()))
            else {
                return Ok(false);
            };
            let extents = around(xa.shape(), a);
            let fits = gather_indices_fit(indices, extents.1);
            if !fits || extents.0 * indices.len() * extents.2 != out.len() {
                return Ok(false);
            }
            gather_into(xs, extents, indices, out)?;
        }
        FastKind::RmsNorm {
            normalized_shape,
            eps,
            weight,
        } => {
            let shape = xa.shape();
            let normalized = match normalized_shape {
                Some(n) => n.as_slice(),
                None => &shape[shape.len().saturating_sub(1)..],
            };
            let w = match weight.then(|| step.operands.get(1).and_then(|&s| value(s))) {
                None => None,
                Some(Some(Tensor::F32(w))) if w.shape() == normalized => w.as_slice(),
                Some(_) => return Ok(false),
            };
            let inner: usize = normalized.iter().product();
            let refused = normalized.is_empty()
                || !shape.ends_with(normalized)
                || inner == 0
                || (*weight && w.is_none())
                || !(eps.is_finite() && *eps >= 0.0)
                || xs.len() != out.len();
            if refused {
                return Ok(false);
            }
            rms_norm_into(xs, inner, w, *eps, out)?;
        }
        FastKind::BatchNorm {
            eps,
            weight,
            bias,
            order,
        } => {
            let operand = |pos: usize| order.get(pos).and_then(|&i| step.operands.get(i));
            let per_channel = |pos: usize| match operand(pos).and_then(|&s| value(s)) {
                Some(Tensor::F32(p)) if p.ndim() == 1 => p.as_slice(),
                _ => None,
            };
            let optional = |given: bool, pos: usize| given.then(|| per_channel(pos));
            let (w, b) = (
                optional(*weight, 3),
                optional(*bias, 3 + usize::from(*weight)),
            );
            let (Some(mean), Some(var), Some(w), Some(b)) = (
                per_channel(1),
                per_channel(2),
                w.unwrap_or(Some(&[])),
                b.unwrap_or(Some(&[])),
            ) else {
                return Ok(false);
            };
            let shape = xa.shape();
            let Some(&c) = shape.get(1) else {
                return Ok(false);
            };
            let fits = [(true, mean), (true, var), (*weight, w), (*bias, b)]
                .iter()
                .all(|&(given, p)| !given || p.len() == c);
            let eps_ok = eps.is_finite() && *eps >= 0.0;
            if !fits || !eps_ok || xs.len() != out.len() {
                return Ok(false);
            }
            let params = ChannelParams {
                mean,
                var,
                weight: weight.then_some(w),
                bias: bias.then_some(b),
            };
            let plane = shape[2..].iter().product();
            batch_norm_into(xs, (shape[0], c, plane), &params, *eps, out)?;
        }
        FastKind::MaxPool2d(_) | FastKind::AvgPool2d(_) | FastKind::Generic => return Ok(false),
    }
    Ok(true)
}

/// A keep mask's values (nonzero keeps) and shape, when in standard layout.
fn keep_mask(t: &Tensor) -> Option<(KeepMask<'_>, &[usize])> {
    Some(match t {
        Tensor::F32(a) => (KeepMask::F32(a.as_slice()?), a.shape()),
        Tensor::F64(a) => (KeepMask::F64(a.as_slice()?), a.shape()),
        Tensor::I64(a) => (KeepMask::I64(a.as_slice()?), a.shape()),
    })
}

fn standard(t: &Tensor) -> bool {
    match t {
        Tensor::F32(a) => a.is_standard_layout(),
        Tensor::F64(a) => a.is_standard_layout(),
        Tensor::I64(a) => a.is_standard_layout(),
    }
}

/// `t` in standard layout (kernels may return permuted views' layouts).
fn standard_copy(t: Tensor) -> Tensor {
    if standard(&t) {
        return t;
    }
    match t {
        Tensor::F32(a) => Tensor::F32(a.as_standard_layout().into_owned()),
        Tensor::F64(a) => Tensor::F64(a.as_standard_layout().into_owned()),
        Tensor::I64(a) => Tensor::I64(a.as_standard_layout().into_owned()),
    }
}

/// An operand that passed a fast kernel's checks and then vanished (a bug, not bad input).
fn fast_bug(op: &'static str) -> KernelError {
    KernelError::argument(
        op,
        "an operand changed between checking and copying (engine bug)",
    )
}

fn plan_bug(node: &str) -> ExecError {
    ExecError::InvalidGraph {
        detail: format!("node {node}: an operand has no value (plan bug)"),
    }
}

/// Deterministic test values for `shape` from `seed`, uniform in [-half_width, half_width): one
/// generator for the session kernels' tests.
#[cfg(test)]
fn seeded_values(shape: &[usize], seed: u64, half_width: f32) -> ndarray::ArrayD<f32> {
    let mut r = seed | 1;
    ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(shape), |_| {
        r = r
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((r >> 40) as f32 / (1u64 << 24) as f32) * 2.0 * half_width - half_width
    })
}
