//! The compiled engine: a graph lowered once to a [`Plan`] and run in f32.
//!
//! Compiling does the work that does not depend on inputs: every node is lowered (a node that
//! cannot be is refused with TL0513 naming it), params are loaded, checked and converted to f32
//! once, constants are materialised, identity/dropout nodes become aliases, chains of unary
//! elementwise nodes whose intermediates have no other consumer are fused into one pass, and each
//! buffer is released right after its last use (liveness). A fused chain runs in place when its
//! input buffer dies at that step.

use super::bind::{bind_input, bind_param, Payload, SymbolTable};
use super::lower::{lower, Lowered};
use super::reference::run_lowered;
use super::{ExecError, ExecResult};
use crate::backend::CpuBackend;
use crate::cpu::{unary_chain_in_place, UnaryOp};
use crate::dtype::DType;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashSet};
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
}

#[derive(Debug, Clone)]
enum StepKind {
    Kernel(Lowered),
    /// Unary ops applied in one pass.
    Chain(Vec<UnaryOp>),
}

#[derive(Debug, Clone)]
struct Step {
    node: String,
    kind: StepKind,
    operands: Vec<usize>,
    output: usize,
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
#[derive(Debug, Clone)]
pub struct Plan {
    inputs: Vec<InputSlot>,
    /// Params and constants by slot (f32 floats, i64 integers).
    fixed: Vec<Option<Tensor>>,
    steps: Vec<Step>,
    outputs: Vec<(String, usize)>,
    stats: PlanStats,
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
    let stats = PlanStats {
        op_nodes,
        steps: steps.len(),
        fused_nodes,
        peak_live_buffers,
    };
    let outputs = graph
        .outputs
        .iter()
        .map(|(name, id)| (name.clone(), slot_of[*id]))
        .collect();
    Ok(Plan {
        inputs,
        fixed,
        steps,
        outputs,
        stats,
    })
}

impl Plan {
    pub fn stats(&self) -> PlanStats {
        self.stats
    }

    /// Runs the plan; returns the graph outputs by name (floats in f32).
    pub fn run(&self, inputs: &BTreeMap<String, Tensor>) -> ExecResult<BTreeMap<String, Tensor>> {
        let backend = CpuBackend;
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
                    let applied = match &mut buf {
                        Tensor::F32(a) => unary_chain_in_place(ops, a.view_mut()),
                        Tensor::F64(a) => unary_chain_in_place(ops, a.view_mut()),
                        Tensor::I64(_) => Err(crate::KernelError::DType {
                            op: ops[0].name(),
                            expected: "f32 or f64",
                            found: DType::I64,
                        }),
                    };
                    applied.map_err(|source| ExecError::Kernel {
                        node: step.node.clone(),
                        source,
                    })?;
                    buf
                }
                StepKind::Kernel(l) => {
                    let args = step
                        .operands
                        .iter()
                        .map(|&s| self.value(&live, s).ok_or_else(|| missing(step)))
                        .collect::<ExecResult<Vec<_>>>()?;
                    run_lowered(&backend, l, &step.node, &args, DType::F32)?
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

fn missing(step: &Step) -> ExecError {
    ExecError::InvalidGraph {
        detail: format!(
            "node {}: an operand was released before use (plan bug)",
            step.node
        ),
    }
}
