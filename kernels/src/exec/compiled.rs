//! The compiled engine: a graph lowered once to a [`Plan`] and run in f32.
//!
//! Compiling does the work that does not depend on inputs: every node is lowered (a node that
//! cannot be is refused with TL0513 naming it), params are loaded, checked and converted to f32
//! once, constants are materialised, identity/dropout nodes become aliases, chains of unary
//! elementwise nodes whose intermediates have no other consumer are fused into one pass, and each
//! buffer is released right after its last use (liveness). A fused chain runs in place when its
//! input buffer dies at that step.
//!
//! Compiling also builds the fast schedule ([`super::schedule`]): weights packed for the GEMM
//! micro-kernel, unary chains fused into the linear or convolution before them. A
//! [`Session`] runs it allocation-free; [`Plan::run`] runs it through a session cached in the
//! plan, so repeated calls only allocate the returned outputs.

use super::bind::{bind_input, bind_param, Payload, SymbolTable};
use super::lower::{lower, Lowered};
use super::reference::run_lowered;
use super::schedule::{self, FastKind, Schedule};
use super::session::{Arena, Session};
use super::{ExecError, ExecResult};
use crate::backend::CpuBackend;
use crate::cpu::{unary_chain_in_place, UnaryOp};
use crate::dtype::DType;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use tl_ir::{DType as IrDType, Graph, NodeKind, Shape};

/// Facts about a compiled plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanStats {
    /// Op nodes in the graph.
    pub op_nodes: usize,
    /// Steps actually run (after aliasing and fusion).
    pub steps: usize,
    /// Unary nodes folded into a preceding chain.
    pub fused_nodes: usize,
    /// The most intermediate buffers alive at once.
    pub peak_live_buffers: usize,
    /// Steps of the fast schedule (what a [`Session`] runs).
    pub fast_steps: usize,
    /// Fast-schedule steps without an allocation-free kernel (they run the generic kernel and
    /// allocate its result on every run).
    pub generic_steps: usize,
    /// Unary chains fused into a preceding linear or convolution.
    pub fused_into_gemm: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum StepKind {
    Kernel(Lowered),
    /// Unary ops applied in one pass.
    Chain(Vec<UnaryOp>),
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) node: String,
    pub(crate) kind: StepKind,
    pub(crate) operands: Vec<usize>,
    pub(crate) output: usize,
    /// Slots whose last use is this step.
    release: Vec<usize>,
}

#[derive(Debug, Clone)]
struct InputSlot {
    name: String,
    slot: usize,
    shape: Shape,
    dtype: IrDType,
}

/// A compiled graph, ready to run many times.
#[derive(Debug)]
pub struct Plan {
    inputs: Vec<InputSlot>,
    /// Per slot, the input it holds.
    input_of_slot: Vec<Option<usize>>,
    /// Params and constants by slot (f32 floats, i64 integers).
    fixed: Vec<Option<Tensor>>,
    steps: Vec<Step>,
    outputs: Vec<(String, usize)>,
    schedule: Schedule,
    stats: PlanStats,
    /// Buffers reused by [`Plan::run`] (taken by one caller at a time).
    cache: Mutex<Option<Arena>>,
}

impl Clone for Plan {
    fn clone(&self) -> Self {
        Plan {
            inputs: self.inputs.clone(),
            input_of_slot: self.input_of_slot.clone(),
            fixed: self.fixed.clone(),
            steps: self.steps.clone(),
            outputs: self.outputs.clone(),
            schedule: self.schedule.clone(),
            stats: self.stats,
            cache: Mutex::new(Some(Arena::default())),
        }
    }
}

/// Whether `compile` can lower `graph`: its structure and every op node's lowering, without a
/// payload, so it reads no weight data and packs nothing. Params are bound (and their shapes and
/// dtypes checked against the weight files' headers) elsewhere; this is what the keystroke path
/// asks, while `compile` runs only when a check needs a plan.
pub fn check_lowering(graph: &Graph) -> ExecResult<()> {
    graph
        .validate()
        .map_err(|e| ExecError::InvalidGraph { detail: e.message })?;
    for node in &graph.nodes {
        if let NodeKind::Op { op, attrs } = &node.kind {
            lower(*op, attrs, node.parents.len()).map_err(|detail| ExecError::Lowering {
                node: node.name.clone(),
                op: op.name(),
                detail,
            })?;
        }
    }
    Ok(())
}

/// Lowers `graph` with params from `payload` into a plan that runs in f32.
pub fn compile(graph: &Graph, payload: &dyn Payload) -> ExecResult<Plan> {
    graph
        .validate()
        .map_err(|e| ExecError::InvalidGraph { detail: e.message })?;
    let n = graph.nodes.len();
    let mut fixed: Vec<Option<Tensor>> = vec![None; n];
    let mut slot_of: Vec<usize> = (0..n).collect();
    let mut lowered: Vec<Option<Lowered>> = vec![None; n];
    let mut inputs = Vec::new();
    let mut syms = SymbolTable::default();
    for (id, node) in graph.nodes.iter().enumerate() {
        match &node.kind {
            NodeKind::Input => inputs.push(InputSlot {
                name: node.name.clone(),
                slot: id,
                shape: node.shape.clone(),
                dtype: node.dtype,
            }),
            NodeKind::Param { key } => {
                fixed[id] = Some(bind_param(
                    &mut syms,
                    key,
                    &node.shape,
                    node.dtype,
                    payload,
                    DType::F32,
                )?);
            }
            NodeKind::Op { op, attrs } => {
                let l = lower(*op, attrs, node.parents.len()).map_err(|detail| {
                    ExecError::Lowering {
                        node: node.name.clone(),
                        op: op.name(),
                        detail,
                    }
                })?;
                match &l {
                    Lowered::Forward => slot_of[id] = slot_of[node.parents[0]],
                    Lowered::Constant { .. } => fixed[id] = l.constant_tensor(DType::F32),
                    Lowered::Kernel { .. } => {}
                }
                lowered[id] = Some(l);
            }
        }
    }
    let output_slots: HashSet<usize> = graph.outputs.iter().map(|(_, id)| slot_of[*id]).collect();
    let mut uses = vec![0usize; n];
    for (id, node) in graph.nodes.iter().enumerate() {
        if matches!(lowered[id], Some(Lowered::Kernel { .. })) {
            for &p in &node.parents {
                uses[slot_of[p]] += 1;
            }
        }
    }

    // Build steps, fusing unary chains.
    let mut steps: Vec<Step> = Vec::new();
    let mut producer: Vec<Option<usize>> = vec![None; n];
    let mut fused_nodes = 0;
    for (id, node) in graph.nodes.iter().enumerate() {
        let Some(Lowered::Kernel { .. }) = &lowered[id] else {
            continue;
        };
        let l = lowered[id].clone().expect("matched above");
        let operands: Vec<usize> = node.parents.iter().map(|&p| slot_of[p]).collect();
        if let Some(u) = l.as_unary() {
            let src = operands[0];
            let fusible = uses[src] == 1 && !output_slots.contains(&src) && fixed[src].is_none();
            if let Some(s) = producer[src].filter(|_| fusible) {
                if let StepKind::Chain(ops) = &mut steps[s].kind {
                    ops.push(u);
                    steps[s].output = id;
                    steps[s].node = node.name.clone();
                    producer[id] = Some(s);
                    fused_nodes += 1;
                    continue;
                }
            }
            steps.push(Step {
                node: node.name.clone(),
                kind: StepKind::Chain(vec![u]),
                operands,
                output: id,
                release: vec![],
            });
        } else {
            steps.push(Step {
                node: node.name.clone(),
                kind: StepKind::Kernel(l),
                operands,
                output: id,
                release: vec![],
            });
        }
        producer[id] = Some(steps.len() - 1);
    }

    // Liveness: release each intermediate after its last reading step.
    let mut last_use: Vec<Option<usize>> = vec![None; n];
    for (s, step) in steps.iter().enumerate() {
        for &slot in &step.operands {
            last_use[slot] = Some(s);
        }
    }
    for (slot, last) in last_use.iter().enumerate() {
        if let Some(s) = *last {
            if fixed[slot].is_none() && !output_slots.contains(&slot) {
                steps[s].release.push(slot);
            }
        }
    }
    let mut live = 0usize;
    let mut peak_live_buffers = 0usize;
    for step in &steps {
        live += 1;
        peak_live_buffers = peak_live_buffers.max(live);
        live -= step
            .release
            .iter()
            .filter(|&&s| !inputs.iter().any(|i| i.slot == s))
            .count();
    }
    let op_nodes = graph
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Op { .. }))
        .count();
    let outputs: Vec<(String, usize)> = graph
        .outputs
        .iter()
        .map(|(name, id)| (name.clone(), slot_of[*id]))
        .collect();
    let schedule = schedule::build(&steps, &fixed, &uses, &outputs)?;
    let stats = PlanStats {
        op_nodes,
        steps: steps.len(),
        fused_nodes,
        peak_live_buffers,
        fast_steps: schedule.steps.len(),
        generic_steps: schedule
            .steps
            .iter()
            .filter(|s| matches!(s.kind, FastKind::Generic))
            .count(),
        fused_into_gemm: schedule.steps.iter().filter(|s| s.origin.len() > 1).count(),
    };
    let mut input_of_slot = vec![None; n];
    for (i, input) in inputs.iter().enumerate() {
        input_of_slot[input.slot] = Some(i);
    }
    Ok(Plan {
        inputs,
        input_of_slot,
        fixed,
        steps,
        outputs,
        schedule,
        stats,
        cache: Mutex::new(Some(Arena::default())),
    })
}

impl Plan {
    pub fn stats(&self) -> PlanStats {
        self.stats
    }

    /// Runs the plan; returns the graph outputs by name (floats in f32).
    ///
    /// From the second call with the same input shapes on, it runs the fast schedule through
    /// buffers cached in the plan (one caller at a time; a concurrent caller runs the generic
    /// steps), so a repeated call allocates only the returned outputs; [`Plan::session`] avoids
    /// even that. A first or one-off shape runs the generic steps, which release each buffer
    /// after its last use.
    pub fn run(&self, inputs: &BTreeMap<String, Tensor>) -> ExecResult<BTreeMap<String, Tensor>> {
        let Some(mut arena) = self.cache.try_lock().ok().and_then(|mut c| c.take()) else {
            return self.run_generic(inputs);
        };
        let result = arena
            .run_if_repeated(self, |i| inputs.get(self.input_name(i)))
            .map(|ran| {
                ran.then(|| {
                    arena
                        .outputs(self)
                        .map(|(name, t)| (name.to_string(), t.clone()))
                        .collect()
                })
            });
        if let Ok(mut c) = self.cache.try_lock() {
            *c = Some(arena);
        }
        match result? {
            Some(outputs) => Ok(outputs),
            None => self.run_generic(inputs),
        }
    }

    /// A session over this plan: buffers for allocation-free repeated runs.
    pub fn session(&self) -> Session<'_> {
        Session::new(self)
    }

    /// The graph inputs in the order [`Session::run`] takes them.
    pub fn input_names(&self) -> impl Iterator<Item = &str> {
        self.inputs.iter().map(|i| i.name.as_str())
    }

    pub(crate) fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    pub(crate) fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub(crate) fn input_count(&self) -> usize {
        self.inputs.len()
    }

    pub(crate) fn input_name(&self, i: usize) -> &str {
        &self.inputs[i].name
    }

    /// Input `i`: name, slot, declared shape and dtype.
    pub(crate) fn input(&self, i: usize) -> (&str, usize, &Shape, IrDType) {
        let input = &self.inputs[i];
        (&input.name, input.slot, &input.shape, input.dtype)
    }

    pub(crate) fn input_of_slot(&self, slot: usize) -> Option<usize> {
        self.input_of_slot.get(slot).copied().flatten()
    }

    pub(crate) fn fixed_value(&self, slot: usize) -> Option<&Tensor> {
        self.fixed.get(slot)?.as_ref()
    }

    /// Computes one plan step with the generic kernels (a chain on a copy of its operand).
    pub(crate) fn exec_generic(&self, step: &Step, args: &[&Tensor]) -> ExecResult<Tensor> {
        match &step.kind {
            StepKind::Chain(ops) => {
                let mut buf = (*args.first().ok_or_else(|| missing(step))?).clone();
                apply_chain(&step.node, ops, &mut buf)?;
                Ok(buf)
            }
            StepKind::Kernel(l) => run_lowered(&CpuBackend, l, &step.node, args, DType::F32),
        }
    }

    /// Runs the plan's steps with the generic kernels, releasing buffers by liveness.
    pub(crate) fn run_generic(
        &self,
        inputs: &BTreeMap<String, Tensor>,
    ) -> ExecResult<BTreeMap<String, Tensor>> {
        let mut live: Vec<Option<Tensor>> = vec![None; self.fixed.len()];
        let mut syms = SymbolTable::default();
        for i in &self.inputs {
            live[i.slot] = Some(bind_input(
                &mut syms,
                &i.name,
                &i.shape,
                i.dtype,
                inputs.get(&i.name),
                DType::F32,
            )?);
        }
        for step in &self.steps {
            let value = match &step.kind {
                StepKind::Chain(ops) => {
                    let src = step.operands[0];
                    let mut buf = if step.release.contains(&src) {
                        live[src].take().ok_or_else(|| missing(step))?
                    } else {
                        self.value(&live, src).ok_or_else(|| missing(step))?.clone()
                    };
                    apply_chain(&step.node, ops, &mut buf)?;
                    buf
                }
                StepKind::Kernel(_) => {
                    let args = step
                        .operands
                        .iter()
                        .map(|&s| self.value(&live, s).ok_or_else(|| missing(step)))
                        .collect::<ExecResult<Vec<_>>>()?;
                    self.exec_generic(step, &args)?
                }
            };
            live[step.output] = Some(value);
            for &s in &step.release {
                live[s] = None;
            }
        }
        self.outputs
            .iter()
            .map(|(name, slot)| {
                let v =
                    self.value(&live, *slot)
                        .cloned()
                        .ok_or_else(|| ExecError::InvalidGraph {
                            detail: format!("output {name} was not computed"),
                        })?;
                Ok((name.clone(), v))
            })
            .collect()
    }

    fn value<'a>(&'a self, live: &'a [Option<Tensor>], slot: usize) -> Option<&'a Tensor> {
        self.fixed[slot].as_ref().or(live[slot].as_ref())
    }
}

/// Applies a unary chain in place.
fn apply_chain(node: &str, ops: &[UnaryOp], buf: &mut Tensor) -> ExecResult<()> {
    let applied = match buf {
        Tensor::F32(a) => unary_chain_in_place(ops, a.view_mut()),
        Tensor::F64(a) => unary_chain_in_place(ops, a.view_mut()),
        Tensor::I64(_) => Err(crate::KernelError::DType {
            op: ops[0].name(),
            expected: "f32 or f64",
            found: DType::I64,
        }),
    };
    applied.map_err(|source| ExecError::Kernel {
        node: node.into(),
        source,
    })
}

fn missing(step: &Step) -> ExecError {
    ExecError::InvalidGraph {
        detail: format!(
            "node {}: an operand was released before use (plan bug)",
            step.node
        ),
    }
}
