//! A graph output as a scalar function of its float inputs and params, for comparing reverse-mode
//! gradients with central finite differences: evaluate at the point, at one coordinate moved, or
//! along a direction through every coordinate.

use super::backward::{gradients, output_id, Gradients};
use super::error::{AutogradError, AutogradResult};
use crate::dtype::DType;
use crate::exec::{denote, Payload};
use crate::tensor::Tensor;
use ndarray::ArrayD;
use std::collections::BTreeMap;
use tl_ir::{Graph, NodeKind};

/// A differentiable coordinate block: a float graph input or a param (by payload key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wrt {
    Input(String),
    Param(String),
}

impl Wrt {
    pub fn name(&self) -> &str {
        match self {
            Wrt::Input(n) | Wrt::Param(n) => n,
        }
    }
}

impl std::fmt::Display for Wrt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wrt::Input(n) => write!(f, "input {n}"),
            Wrt::Param(n) => write!(f, "param {n}"),
        }
    }
}

/// The sum of one output's elements as a function of every float input and param, at a point.
#[derive(Debug, Clone)]
pub struct Objective<'g> {
    graph: &'g Graph,
    output: String,
    inputs: BTreeMap<String, Tensor>,
    params: BTreeMap<String, Tensor>,
}

impl<'g> Objective<'g> {
    /// The objective of `output` at the given inputs, with every param read once from `payload`
    /// (float values held in f64, so perturbations are not rounded to f32).
    pub fn new(
        graph: &'g Graph,
        payload: &dyn Payload,
        inputs: &BTreeMap<String, Tensor>,
        output: &str,
    ) -> AutogradResult<Self> {
        output_id(graph, output)?;
        let mut params = BTreeMap::new();
        for node in &graph.nodes {
            if let NodeKind::Param { key } = &node.kind {
                if !params.contains_key(key) {
                    let t = payload.load(key).map_err(crate::exec::ExecError::from)?;
                    params.insert(key.clone(), widen(t));
                }
            }
        }
        let inputs = inputs
            .iter()
            .map(|(k, t)| (k.clone(), widen(t.clone())))
            .collect();
        Ok(Objective {
            graph,
            output: output.into(),
            inputs,
            params,
        })
    }

    /// The output differentiated.
    pub fn output(&self) -> &str {
        &self.output
    }

    /// The float coordinate blocks, inputs first (signature order), then params by key.
    pub fn coordinates(&self) -> Vec<(Wrt, Vec<usize>)> {
        let mut out = Vec::new();
        for &id in &self.graph.inputs {
            let node = &self.graph.nodes[id];
            if let (true, Some(t)) = (node.dtype.is_float(), self.inputs.get(&node.name)) {
                out.push((Wrt::Input(node.name.clone()), t.shape().to_vec()));
            }
        }
        for (key, t) in &self.params {
            if t.dtype().is_float() {
                out.push((Wrt::Param(key.clone()), t.shape().to_vec()));
            }
        }
        out
    }

    /// The current value of a coordinate block.
    pub fn block(&self, wrt: &Wrt) -> Option<ArrayD<f64>> {
        self.slot(wrt).map(Tensor::to_f64)
    }

    fn slot(&self, wrt: &Wrt) -> Option<&Tensor> {
        match wrt {
            Wrt::Input(n) => self.inputs.get(n),
            Wrt::Param(k) => self.params.get(k),
        }
    }

    fn slot_mut(&mut self, wrt: &Wrt) -> Option<&mut Tensor> {
        match wrt {
            Wrt::Input(n) => self.inputs.get_mut(n),
            Wrt::Param(k) => self.params.get_mut(k),
        }
    }

    /// The objective's value at the point.
    pub fn value(&self) -> AutogradResult<f64> {
        let den = denote(self.graph, &self.params, &self.inputs)?;
        let y = den
            .node(output_id(self.graph, &self.output)?)
            .ok_or_else(|| AutogradError::NotDifferentiable {
                output: self.output.clone(),
                detail: "no value".into(),
            })?;
        Ok(y.to_f64().sum())
    }

    /// The nodes evaluated within `rel * max(1, |v|)` of a kink at the point ([`super::kinks`]).
    pub fn kinks(&self, rel: f64) -> AutogradResult<Vec<super::Kink>> {
        let den = denote(self.graph, &self.params, &self.inputs)?;
        super::kinks(self.graph, &den, rel)
    }

    /// Reverse-mode gradients at the point.
    pub fn gradients(&self) -> AutogradResult<Gradients> {
        gradients(self.graph, &self.params, &self.inputs, &self.output)
    }

    /// The value with `changes` (block, row-major index, new value) applied.
    pub fn value_with(&self, changes: &[(Wrt, usize, f64)]) -> AutogradResult<f64> {
        let mut moved = self.clone();
        for (wrt, index, v) in changes {
            let missing = || AutogradError::NotDifferentiable {
                output: self.output.clone(),
                detail: format!("no float coordinate {wrt}[{index}]"),
            };
            let Some(Tensor::F64(a)) = moved.slot_mut(wrt) else {
                return Err(missing());
            };
            *a.iter_mut().nth(*index).ok_or_else(missing)? = *v;
        }
        moved.value()
    }

    /// `(f(x + h e_i) - f(x - h e_i)) / (2h)` for coordinate `index` of `wrt`, dividing by the
    /// step actually taken (x ± h rounded).
    pub fn central_difference(&self, wrt: &Wrt, index: usize, h: f64) -> AutogradResult<f64> {
        let x = self
            .block(wrt)
            .and_then(|a| a.iter().nth(index).copied())
            .ok_or_else(|| AutogradError::NotDifferentiable {
                output: self.output.clone(),
                detail: format!("no coordinate {wrt}[{index}]"),
            })?;
        let (up, down) = (x + h, x - h);
        let f_up = self.value_with(&[(wrt.clone(), index, up)])?;
        let f_down = self.value_with(&[(wrt.clone(), index, down)])?;
        Ok((f_up - f_down) / (up - down))
    }

    /// The value at `x + t v`, where `direction` gives `v` per block (blocks it omits stay).
    pub fn value_along(&self, direction: &[(Wrt, ArrayD<f64>)], t: f64) -> AutogradResult<f64> {
        let mut moved = self.clone();
        for (wrt, v) in direction {
            let Some(Tensor::F64(a)) = moved.slot_mut(wrt) else {
                return Err(AutogradError::NotDifferentiable {
                    output: self.output.clone(),
                    detail: format!("no float block {wrt}"),
                });
            };
            if a.shape() != v.shape() {
                return Err(AutogradError::NotDifferentiable {
                    output: self.output.clone(),
                    detail: format!(
                        "direction for {wrt} has shape {:?}, not {:?}",
                        v.shape(),
                        a.shape()
                    ),
                });
            }
            a.zip_mut_with(v, |x, d| *x += t * d);
        }
        moved.value()
    }

    /// `(f(x + h v) - f(x - h v)) / (2h)`: the directional derivative along `v` by central
    /// differences.
    pub fn directional_difference(
        &self,
        direction: &[(Wrt, ArrayD<f64>)],
        h: f64,
    ) -> AutogradResult<f64> {
        Ok((self.value_along(direction, h)? - self.value_along(direction, -h)?) / (2.0 * h))
    }
}

/// Floats to f64 (integers stay).
fn widen(t: Tensor) -> Tensor {
    match t {
        Tensor::F32(_) => t.cast(DType::F64).unwrap_or(t),
        other => other,
    }
}
