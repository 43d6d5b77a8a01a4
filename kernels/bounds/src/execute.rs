//! Concrete execution of the network a [`crate::BoundNet`] was lowered from, by tl-kernels' own
//! engines: the f64 reference semantics (`denote`), the compiled f32 plan (the executor users
//! run) and the reference's reverse-mode gradient. Branch and bound confirms every counterexample
//! and steers its attack through these, so a `sat` is what the executor computes on the source
//! graph, never the verifier's reading of its own lowered layers.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use ndarray::{ArrayD, IxDyn};
use tl_ir::{Graph, NodeId, NodeKind};
use tl_kernels::{Plan, Tensor};

use crate::error::{codes, BoundsError, Result};
use crate::lower::Payload;

/// The source graphs of a lowered net and their weights. A net lowered from one graph has one
/// part; a composed net (`BoundNet::compose`) one per network, whose outputs sit side by side.
pub struct Executor {
    n_input: usize,
    parts: Vec<SourcePart>,
}

/// One source graph: what it reads of the shared input and which nodes make up its share of the
/// output.
struct SourcePart {
    /// The graph cut after its last output node, with exactly those nodes as outputs
    /// (`out0`, `out1`, ... in order).
    graph: Graph,
    params: BTreeMap<String, Tensor>,
    /// Per graph input: its name, concrete shape and the shared input's elements it reads.
    inputs: Vec<(String, Vec<usize>, Vec<usize>)>,
    outputs: Vec<NodeId>,
    /// The compiled f32 plan, built on first use (bounds alone never need it).
    plan: OnceLock<std::result::Result<Plan, String>>,
    /// Plans not in use: each keeps its own buffers, so concurrent searches run the fast schedule.
    idle: Mutex<Vec<Plan>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("n_input", &self.n_input)
            .field(
                "graphs",
                &self.parts.iter().map(|p| &p.graph.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn exec_error(what: impl std::fmt::Display) -> BoundsError {
    BoundsError::new(codes::EXECUTION, what.to_string())
}

/// One source graph of [`Executor::new`]: the graph, its weights, per graph input the shared
/// input's elements it reads, and the nodes whose values make up its share of the output.
pub(crate) type Source<'a> = (&'a Graph, Payload<'a>, &'a [Vec<usize>], &'a [NodeId]);

impl Executor {
    /// One part per source graph: `inputs[i]` lists, per graph input in signature order, the
    /// shared input's elements it reads; `outputs[i]` the nodes whose values make up the output.
    pub(crate) fn new(n_input: usize, sources: &[Source]) -> Result<Executor> {
        let mut parts = Vec::with_capacity(sources.len());
        for &(graph, payload, inputs, outputs) in sources {
            let Some(&last) = outputs.iter().max() else {
                continue;
            };
            // Nodes after the last output are not needed (their params may not even be loaded).
            let mut cut = graph.clone();
            cut.nodes.truncate(last + 1);
            cut.inputs.retain(|&i| i <= last);
            cut.outputs = outputs
                .iter()
                .enumerate()
                .map(|(k, &id)| (format!("out{k}"), id))
                .collect();
            let mut params = BTreeMap::new();
            for node in &cut.nodes {
                if let NodeKind::Param { key } = &node.kind {
                    if params.contains_key(key) {
                        continue;
                    }
                    let w = payload(key)
                        .ok_or_else(|| exec_error(format!("no weights for param `{key}`")))?;
                    params.insert(key.clone(), Tensor::F64(w));
                }
            }
            let mut part_inputs = Vec::new();
            for (k, &id) in graph.inputs.iter().enumerate() {
                if id > last {
                    continue;
                }
                let node = &graph.nodes[id];
                let shape = node
                    .shape
                    .as_known()
                    .ok_or_else(|| {
                        exec_error(format!("input `{}` has a symbolic shape", node.name))
                    })?
                    .into_iter()
                    .map(|d| d as usize)
                    .collect();
                let elements = inputs
                    .get(k)
                    .cloned()
                    .ok_or_else(|| exec_error(format!("input `{}` is not mapped", node.name)))?;
                part_inputs.push((node.name.clone(), shape, elements));
            }
            parts.push(SourcePart {
                graph: cut,
                params,
                inputs: part_inputs,
                outputs: outputs.to_vec(),
                plan: OnceLock::new(),
                idle: Mutex::new(Vec::new()),
            });
        }
        Ok(Executor { n_input, parts })
    }

    /// The output in the f64 reference semantics at `x` (flattened, parts in order).
    pub fn reference(&self, x: &[f64]) -> Result<Vec<f64>> {
        let mut y = Vec::new();
        for part in &self.parts {
            let values = part.denote(x)?;
            for &o in &part.outputs {
                y.extend(part.value(&values, o)?.iter());
            }
        }
        Ok(y)
    }

    /// The output of the compiled f32 executor at `x` (its inputs rounded to f32 as the executor
    /// binds them), widened to f64.
    pub fn compiled(&self, x: &[f64]) -> Result<Vec<f64>> {
        let mut y = Vec::new();
        for part in &self.parts {
            let out = part.run(x)?;
            for k in 0..part.outputs.len() {
                let t = out
                    .get(&format!("out{k}"))
                    .ok_or_else(|| exec_error(format!("the plan returned no output {k}")))?;
                y.extend(t.to_f64().iter());
            }
        }
        Ok(y)
    }

    /// The gradient of `sum_k weights[k] * y[k]` with respect to the input at `x`, by the
    /// reference semantics' reverse sweep (tl-kernels' autograd rules).
    pub fn reference_gradient(&self, x: &[f64], weights: &[f64]) -> Result<Vec<f64>> {
        let mut grad = vec![0.0; self.n_input];
        let mut offset = 0;
        for part in &self.parts {
            let values = part.denote(x)?;
            for &o in &part.outputs {
                let shape = values
                    .node(o)
                    .ok_or_else(|| exec_error(format!("no value for node {o}")))?
                    .shape()
                    .to_vec();
                let n: usize = shape.iter().product();
                let w = weights
                    .get(offset..offset + n)
                    .ok_or_else(|| exec_error("fewer weights than outputs"))?;
                offset += n;
                if w.iter().all(|&v| v == 0.0) {
                    continue;
                }
                let seed = ArrayD::from_shape_vec(IxDyn(&shape), w.to_vec())
                    .map_err(|e| exec_error(e.to_string()))?;
                let adjoints =
                    tl_kernels::autograd::backward_to_inputs(&part.graph, &values, o, Some(&seed))
                        .map_err(|e| exec_error(e.to_string()))?;
                for (name, _, elements) in &part.inputs {
                    let Some(id) = part.graph.node_by_name(name) else {
                        continue;
                    };
                    if let Some(a) = &adjoints[id] {
                        for (&j, &g) in elements.iter().zip(a.iter()) {
                            grad[j] += g;
                        }
                    }
                }
            }
        }
        Ok(grad)
    }
}

impl SourcePart {
    fn inputs(&self, x: &[f64]) -> Result<BTreeMap<String, Tensor>> {
        self.inputs
            .iter()
            .map(|(name, shape, elements)| {
                let v = elements
                    .iter()
                    .map(|&j| x.get(j).copied())
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| exec_error("the point has fewer elements than the input"))?;
                let t = Tensor::from_f64(shape, v).map_err(|e| exec_error(e.to_string()))?;
                Ok((name.clone(), t))
            })
            .collect()
    }

    fn denote(&self, x: &[f64]) -> Result<tl_kernels::Denotation> {
        tl_kernels::denote(&self.graph, &self.params, &self.inputs(x)?)
            .map_err(|e| exec_error(format!("the reference semantics: {e}")))
    }

    fn value(&self, values: &tl_kernels::Denotation, id: NodeId) -> Result<ArrayD<f64>> {
        values
            .node(id)
            .map(Tensor::to_f64)
            .ok_or_else(|| exec_error(format!("no value for node {id}")))
    }

    fn run(&self, x: &[f64]) -> Result<BTreeMap<String, Tensor>> {
        let inputs = self.inputs(x)?;
        let prototype = self
            .plan
            .get_or_init(|| {
                tl_kernels::compile(&self.graph, &self.params).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| exec_error(format!("the compiled executor: {e}")))?;
        let plan = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| prototype.clone());
        let out = plan.run(&inputs);
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(plan);
        out.map_err(|e| exec_error(format!("the compiled executor: {e}")))
    }
}
