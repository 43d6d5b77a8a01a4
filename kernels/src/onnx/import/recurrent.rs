//! ONNX `LSTM`, `GRU` and `RNN`, unrolled at import over their static sequence length into the
//! op table's existing ops (`linear`, `add`, `sub`, `mul`, `sigmoid`, `tanh`, `relu`, `slice`,
//! `squeeze`, `unsqueeze`, `concat`), so kernels, bounds, autograd and coverage need nothing new.
//!
//! Each direction's weights are cut per gate at import into params of their own (`W[d]`'s rows
//! for gate g become a `[hidden, input]` param, the two ONNX biases `Wb + Rb` one `[hidden]` param,
//! summed in f64 and rounded once), so every gate is a `linear` over a param weight, which bound
//! propagation handles. A header-only load gets the same params, shapes only. An absent
//! `initial_h`/`initial_c` is zero: the first step leaves out the recurrent terms (`R * 0 = 0`,
//! `f * 0 + i * g = i * g`), which needs no batch extent. Forms outside the exporters' defaults
//! (clip, non-default activations, peepholes, input_forget, batch-first layout, sequence_lens, a
//! symbolic sequence length) are refused with TL0526 naming the node.

use super::{Attribute, Builder, OnnxNode};
use crate::dtype::DType;
use crate::exec::ExecError;
use crate::tensor::Tensor;
use tl_ir::{AttrValue, Attrs, NodeId, Op};

/// Which recurrent cell, with its ONNX gate order (the row blocks of `W`, `R` and each half of `B`).
#[derive(Clone, Copy, PartialEq)]
enum Cell {
    /// Gates i, o, f, c.
    Lstm,
    /// Gates z, r, h.
    Gru { linear_before_reset: bool },
    /// One gate; the activation is tanh or relu.
    Rnn { relu: bool },
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru { .. } => 3,
            Cell::Rnn { .. } => 1,
        }
    }
}

/// Where a weight's numbers come from: read data, or (a header-only load) its shape and dtype.
enum Source {
    Data(Tensor),
    Header(Vec<usize>, DType),
}

/// One direction's weights: per gate the input weight, the recurrent weight and the bias terms.
struct Gate {
    w: NodeId,
    r: NodeId,
    /// `Wb + Rb` (or `Wb` alone for GRU's h gate with linear_before_reset); None without `B`.
    bias: Option<NodeId>,
    /// GRU's `Rbh` with linear_before_reset: it stays inside the reset product.
    recurrent_bias: Option<NodeId>,
}

fn refuse(node: &OnnxNode, detail: impl Into<String>) -> ExecError {
    ExecError::OnnxRecurrent {
        node: node.name.clone(),
        detail: detail.into(),
    }
}

impl Builder<'_> {
    /// Imports an `LSTM`, `GRU` or `RNN` node; binds each of its used outputs (Y, Y_h, Y_c).
    pub(super) fn recurrent(&mut self, node: &OnnxNode) -> Result<(), ExecError> {
        let int = |name: &str, default: i64| match node.attributes.get(name) {
            Some(Attribute::Int(v)) => *v,
            _ => default,
        };
        let cell = match node.op_type.as_str() {
            "LSTM" => Cell::Lstm,
            "GRU" => Cell::Gru {
                linear_before_reset: int("linear_before_reset", 0) != 0,
            },
            _ => Cell::Rnn {
                relu: self.rnn_uses_relu(node)?,
            },
        };
        for attr in ["clip", "activation_alpha", "activation_beta"] {
            if node.attributes.contains_key(attr) {
                return Err(refuse(node, format!("`{attr}` is not supported")));
            }
        }
        if !matches!(cell, Cell::Rnn { .. }) {
            self.default_activations(node, cell)?;
        }
        if int("input_forget", 0) != 0 {
            return Err(refuse(
                node,
                "input_forget = 1 (coupled gates) is not supported",
            ));
        }
        if int("layout", 0) != 0 {
            return Err(refuse(
                node,
                "layout = 1 (batch-first) is not supported; export with batch_first handled by a Transpose",
            ));
        }
        let directions: Vec<bool> = match node.attributes.get("direction") {
            None => vec![false],
            Some(Attribute::String(s)) if s == "forward" => vec![false],
            Some(Attribute::String(s)) if s == "reverse" => vec![true],
            Some(Attribute::String(s)) if s == "bidirectional" => vec![false, true],
            Some(other) => {
                return Err(refuse(
                    node,
                    format!("direction {other:?} is not supported"),
                ))
            }
        };
        let present = |i: usize| node.inputs.get(i).filter(|n| !n.is_empty()).cloned();
        if present(4).is_some() {
            return Err(refuse(
                node,
                "sequence_lens is not supported (every sequence must have the full static length)",
            ));
        }
        if present(7).is_some() {
            return Err(refuse(node, "peephole weights (input P) are not supported"));
        }
        let hidden = int("hidden_size", 0);
        if hidden <= 0 {
            return Err(refuse(node, "hidden_size must be given and positive"));
        }
        let hidden = hidden as usize;
        let x_name = present(0).ok_or_else(|| refuse(node, "input X is missing"))?;
        let x = self.value(&x_name, &node.name)?;
        let x_dims = self.graph.nodes[x].shape.0.clone();
        if x_dims.len() != 3 {
            return Err(refuse(
                node,
                format!("X must be [seq, batch, input], got rank {}", x_dims.len()),
            ));
        }
        let steps = x_dims[0].known().filter(|&t| t > 0).ok_or_else(|| {
            refuse(
                node,
                "the sequence length must be static and positive to unroll",
            )
        })? as usize;
        let input_size = x_dims[2]
            .known()
            .ok_or_else(|| refuse(node, "the input size must be static"))?
            as usize;

        let dirs = directions.len();
        let gates = cell.gates();
        let w = self.weight(node, present(1), "W", &[dirs, gates * hidden, input_size])?;
        let r = self.weight(node, present(2), "R", &[dirs, gates * hidden, hidden])?;
        let b = match present(3) {
            Some(name) => Some(self.weight(node, Some(name), "B", &[dirs, 2 * gates * hidden])?),
            None => None,
        };
        let w_name = present(1).unwrap_or_default();

        // x_t = X[t] as [batch, input], shared by both directions.
        let xs = (0..steps)
            .map(|t| self.step_slice(node, x, t))
            .collect::<Result<Vec<_>, _>>()?;

        let mut y_per_dir = Vec::new();
        let mut finals = Vec::new();
        for (d, &reverse) in directions.iter().enumerate() {
            let weights = (0..gates)
                .map(|g| self.gate(node, cell, &w_name, d, g, hidden, &w, &r, b.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            let mut h = match present(5) {
                Some(name) => {
                    let h0 = self.value(&name, &node.name)?;
                    Some(self.step_slice(node, h0, d)?)
                }
                None => None,
            };
            let mut c = match (cell, present(6)) {
                (Cell::Lstm, Some(name)) => {
                    let c0 = self.value(&name, &node.name)?;
                    Some(self.step_slice(node, c0, d)?)
                }
                _ => None,
            };
            let mut hs = vec![None; steps];
            let order: Vec<usize> = if reverse {
                (0..steps).rev().collect()
            } else {
                (0..steps).collect()
            };
            for &t in &order {
                let (h_new, c_new) = self.cell_step(node, cell, &weights, xs[t], h, c)?;
                hs[t] = Some(h_new);
                h = Some(h_new);
                c = c_new;
            }
            y_per_dir.push(
                hs.into_iter()
                    .map(|h| h.expect("every step ran"))
                    .collect::<Vec<_>>(),
            );
            finals.push((h.expect("steps > 0"), c));
        }

        let outputs = node.outputs.clone();
        let used = |b: &Self, i: usize| {
            outputs
                .get(i)
                .filter(|o| !o.is_empty() && !b.outputs_unused(std::slice::from_ref(o)))
                .cloned()
        };
        if let Some(name) = used(self, 0) {
            // Y: [seq, dirs, batch, hidden].
            let mut rows = Vec::new();
            for t in 0..steps {
                let at_t: Vec<NodeId> = y_per_dir.iter().map(|hs| hs[t]).collect();
                let parts = at_t
                    .into_iter()
                    .map(|h| self.unsqueeze(node, h, vec![0, 1]))
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push(self.concat(node, None, parts, 1)?);
            }
            let y = self.concat(node, Some(name.clone()), rows, 0)?;
            self.values.insert(name, y);
        }
        if let Some(name) = used(self, 1) {
            let parts = (0..dirs)
                .map(|d| self.unsqueeze(node, finals[d].0, vec![0]))
                .collect::<Result<Vec<_>, _>>()?;
            let y_h = self.concat(node, Some(name.clone()), parts, 0)?;
            self.values.insert(name, y_h);
        }
        if let Some(name) = used(self, 2) {
            if cell != Cell::Lstm {
                return Err(refuse(node, "only LSTM has a third output"));
            }
            let parts = (0..dirs)
                .map(|d| {
                    self.unsqueeze(node, finals[d].1.expect("an LSTM keeps its cell"), vec![0])
                })
                .collect::<Result<Vec<_>, _>>()?;
            let y_c = self.concat(node, Some(name.clone()), parts, 0)?;
            self.values.insert(name, y_c);
        }
        Ok(())
    }

    /// One time step: the new hidden state (and the LSTM's new cell state).
    fn cell_step(
        &mut self,
        node: &OnnxNode,
        cell: Cell,
        g: &[Gate],
        x: NodeId,
        h: Option<NodeId>,
        c: Option<NodeId>,
    ) -> Result<(NodeId, Option<NodeId>), ExecError> {
        match cell {
            Cell::Lstm => {
                let i = self.gate_pre(node, &g[0], x, h)?;
                let i = self.unary(node, Op::Sigmoid, i)?;
                let o = self.gate_pre(node, &g[1], x, h)?;
                let o = self.unary(node, Op::Sigmoid, o)?;
                let f = self.gate_pre(node, &g[2], x, h)?;
                let f = self.unary(node, Op::Sigmoid, f)?;
                let cand = self.gate_pre(node, &g[3], x, h)?;
                let cand = self.unary(node, Op::Tanh, cand)?;
                let ic = self.binary(node, Op::Mul, i, cand)?;
                let c_new = match c {
                    Some(c) => {
                        let fc = self.binary(node, Op::Mul, f, c)?;
                        self.binary(node, Op::Add, fc, ic)?
                    }
                    None => ic,
                };
                let tc = self.unary(node, Op::Tanh, c_new)?;
                Ok((self.binary(node, Op::Mul, o, tc)?, Some(c_new)))
            }
            Cell::Gru {
                linear_before_reset,
            } => {
                let z = self.gate_pre(node, &g[0], x, h)?;
                let z = self.unary(node, Op::Sigmoid, z)?;
                let r = self.gate_pre(node, &g[1], x, h)?;
                let r = self.unary(node, Op::Sigmoid, r)?;
                let hg = &g[2];
                let xh = self.linear(node, x, hg.w, hg.bias)?;
                let pre = match (h, linear_before_reset) {
                    // r * (h R^T + Rb): with h = 0 the product is r * Rb.
                    (Some(h), true) => {
                        let rh = self.linear(node, h, hg.r, hg.recurrent_bias)?;
                        let gated = self.binary(node, Op::Mul, r, rh)?;
                        self.binary(node, Op::Add, xh, gated)?
                    }
                    (None, true) => match hg.recurrent_bias {
                        Some(rb) => {
                            let gated = self.binary(node, Op::Mul, r, rb)?;
                            self.binary(node, Op::Add, xh, gated)?
                        }
                        None => xh,
                    },
                    (Some(h), false) => {
                        let reset = self.binary(node, Op::Mul, r, h)?;
                        let rh = self.linear(node, reset, hg.r, None)?;
                        self.binary(node, Op::Add, xh, rh)?
                    }
                    (None, false) => xh,
                };
                let cand = self.unary(node, Op::Tanh, pre)?;
                let one = self.scalar_const(node, 1.0)?;
                let keep = self.binary(node, Op::Sub, one, z)?;
                let fresh = self.binary(node, Op::Mul, keep, cand)?;
                let h_new = match h {
                    Some(h) => {
                        let old = self.binary(node, Op::Mul, z, h)?;
                        self.binary(node, Op::Add, fresh, old)?
                    }
                    None => fresh,
                };
                Ok((h_new, None))
            }
            Cell::Rnn { relu } => {
                let pre = self.gate_pre(node, &g[0], x, h)?;
                let act = if relu { Op::Relu } else { Op::Tanh };
                Ok((self.unary(node, act, pre)?, None))
            }
        }
    }

    /// `x W^T + h R^T + bias`, the recurrent term left out when h is zero.
    fn gate_pre(
        &mut self,
        node: &OnnxNode,
        g: &Gate,
        x: NodeId,
        h: Option<NodeId>,
    ) -> Result<NodeId, ExecError> {
        let xw = self.linear(node, x, g.w, g.bias)?;
        match h {
            Some(h) => {
                let hr = self.linear(node, h, g.r, None)?;
                self.binary(node, Op::Add, xw, hr)
            }
            None => Ok(xw),
        }
    }

    /// Direction `d`, gate `g`'s weights as params of their own.
    #[allow(clippy::too_many_arguments)]
    fn gate(
        &mut self,
        node: &OnnxNode,
        cell: Cell,
        w_name: &str,
        d: usize,
        g: usize,
        hidden: usize,
        w: &Source,
        r: &Source,
        b: Option<&Source>,
    ) -> Result<Gate, ExecError> {
        let key = |part: &str| format!("{w_name}.{}.d{d}.g{g}.{part}", node.name);
        let rows = g * hidden..(g + 1) * hidden;
        let w = self.cut(key("w"), w, d, rows.clone())?;
        let r = self.cut(key("r"), r, d, rows.clone())?;
        let gates = cell.gates();
        let (bias, recurrent_bias) = match b {
            None => (None, None),
            Some(b) => {
                let wb = rows.clone();
                let rb = gates * hidden + rows.start..gates * hidden + rows.end;
                if matches!(
                    cell,
                    Cell::Gru {
                        linear_before_reset: true
                    }
                ) && g == 2
                {
                    (
                        Some(self.bias(key("wb"), b, d, &[wb])?),
                        Some(self.bias(key("rb"), b, d, &[rb])?),
                    )
                } else {
                    (Some(self.bias(key("b"), b, d, &[wb, rb])?), None)
                }
            }
        };
        Ok(Gate {
            w,
            r,
            bias,
            recurrent_bias,
        })
    }

    /// A weight input (W, R or B) that must be known at import, checked against `want`.
    fn weight(
        &self,
        node: &OnnxNode,
        name: Option<String>,
        what: &str,
        want: &[usize],
    ) -> Result<Source, ExecError> {
        let name = name.ok_or_else(|| refuse(node, format!("input {what} is missing")))?;
        let source = if let Some(t) = self.constant(&name) {
            Source::Data(t)
        } else if let Some(h) = self.model.headers.get(&name) {
            Source::Header(h.shape.clone(), h.dtype)
        } else {
            return Err(refuse(
                node,
                format!("{what} ({name:?}) must be an initializer or a constant to unroll"),
            ));
        };
        let shape = match &source {
            Source::Data(t) => t.shape().to_vec(),
            Source::Header(s, _) => s.clone(),
        };
        if shape != want {
            return Err(refuse(
                node,
                format!("{what} has shape {shape:?}, expected {want:?} from X, hidden_size and direction"),
            ));
        }
        Ok(source)
    }

    /// Rows `rows` of `src[d]` (a `[dirs, rows, cols]` weight) as a param `key`.
    fn cut(
        &mut self,
        key: String,
        src: &Source,
        d: usize,
        rows: std::ops::Range<usize>,
    ) -> Result<NodeId, ExecError> {
        match src {
            Source::Header(shape, dtype) => {
                Ok(self.param_header(&key, &[rows.len(), shape[2]], *dtype))
            }
            Source::Data(t) => {
                let a = t.to_f64();
                let cols = t.shape()[2];
                let data = rows
                    .clone()
                    .flat_map(|i| (0..cols).map(move |j| (i, j)))
                    .map(|(i, j)| a[[d, i, j].as_slice()])
                    .collect();
                let cut = Self::typed(&[rows.len(), cols], data, t.dtype())?;
                Ok(self.param(&key, cut))
            }
        }
    }

    /// The sum of the spans `parts` of `src[d]` (a `[dirs, 2 * gates * hidden]` bias) as a param.
    fn bias(
        &mut self,
        key: String,
        src: &Source,
        d: usize,
        parts: &[std::ops::Range<usize>],
    ) -> Result<NodeId, ExecError> {
        let len = parts[0].len();
        match src {
            Source::Header(_, dtype) => Ok(self.param_header(&key, &[len], *dtype)),
            Source::Data(t) => {
                let a = t.to_f64();
                let data = (0..len)
                    .map(|k| parts.iter().map(|p| a[[d, p.start + k].as_slice()]).sum())
                    .collect();
                let sum = Self::typed(&[len], data, t.dtype())?;
                Ok(self.param(&key, sum))
            }
        }
    }

    fn typed(shape: &[usize], data: Vec<f64>, dtype: DType) -> Result<Tensor, ExecError> {
        Tensor::from_f64(shape, data)
            .and_then(|t| t.cast(dtype))
            .map_err(|e| ExecError::InvalidGraph {
                detail: e.to_string(),
            })
    }

    /// The default activations (LSTM: sigmoid, tanh, tanh; GRU: sigmoid, tanh) or TL0526.
    fn default_activations(&self, node: &OnnxNode, cell: Cell) -> Result<(), ExecError> {
        let Some(Attribute::Strings(acts)) = node.attributes.get("activations") else {
            return Ok(());
        };
        let per_dir: &[&str] = if cell == Cell::Lstm {
            &["Sigmoid", "Tanh", "Tanh"]
        } else {
            &["Sigmoid", "Tanh"]
        };
        let ok = !acts.is_empty()
            && acts.len() % per_dir.len() == 0
            && acts
                .iter()
                .zip(per_dir.iter().cycle())
                .all(|(a, want)| a.eq_ignore_ascii_case(want));
        if ok {
            Ok(())
        } else {
            Err(refuse(
                node,
                format!("activations {acts:?} are not supported (only the defaults {per_dir:?})"),
            ))
        }
    }

    /// An RNN's activation: Tanh (the default) or Relu, the same in every direction.
    fn rnn_uses_relu(&self, node: &OnnxNode) -> Result<bool, ExecError> {
        let Some(Attribute::Strings(acts)) = node.attributes.get("activations") else {
            return Ok(false);
        };
        let all =
            |want: &str| !acts.is_empty() && acts.iter().all(|a| a.eq_ignore_ascii_case(want));
        if all("Tanh") {
            Ok(false)
        } else if all("Relu") {
            Ok(true)
        } else {
            Err(refuse(
                node,
                format!("activations {acts:?} are not supported (only Tanh or Relu)"),
            ))
        }
    }

    /// `v[i]` along axis 0 with that axis removed.
    fn step_slice(&mut self, node: &OnnxNode, v: NodeId, i: usize) -> Result<NodeId, ExecError> {
        let attrs = Attrs::new()
            .with("axis", AttrValue::Int(0))
            .with("start", AttrValue::Int(i as i64))
            .with("end", AttrValue::Int(i as i64 + 1))
            .with("step", AttrValue::Int(1));
        let name = self.fresh_name(&node.name);
        let s = self.op(node, name, Op::Slice, vec![v], attrs)?;
        let name = self.fresh_name(&node.name);
        self.op(
            node,
            name,
            Op::Squeeze,
            vec![s],
            Attrs::new().with("axes", AttrValue::Ints(vec![0])),
        )
    }

    fn linear(
        &mut self,
        node: &OnnxNode,
        x: NodeId,
        w: NodeId,
        bias: Option<NodeId>,
    ) -> Result<NodeId, ExecError> {
        let mut parents = vec![x, w];
        parents.extend(bias);
        let name = self.fresh_name(&node.name);
        self.op(node, name, Op::Linear, parents, Attrs::new())
    }

    fn unary(&mut self, node: &OnnxNode, op: Op, x: NodeId) -> Result<NodeId, ExecError> {
        let name = self.fresh_name(&node.name);
        self.op(node, name, op, vec![x], Attrs::new())
    }

    fn binary(
        &mut self,
        node: &OnnxNode,
        op: Op,
        a: NodeId,
        b: NodeId,
    ) -> Result<NodeId, ExecError> {
        let name = self.fresh_name(&node.name);
        self.op(node, name, op, vec![a, b], Attrs::new())
    }

    fn unsqueeze(
        &mut self,
        node: &OnnxNode,
        x: NodeId,
        axes: Vec<i64>,
    ) -> Result<NodeId, ExecError> {
        let name = self.fresh_name(&node.name);
        self.op(
            node,
            name,
            Op::Unsqueeze,
            vec![x],
            Attrs::new().with("axes", AttrValue::Ints(axes)),
        )
    }

    /// A concat along `axis`, or the one part itself (named `name` by an identity when given).
    fn concat(
        &mut self,
        node: &OnnxNode,
        name: Option<String>,
        parts: Vec<NodeId>,
        axis: i64,
    ) -> Result<NodeId, ExecError> {
        let name = name.unwrap_or_else(|| self.fresh_name(&node.name));
        if parts.len() == 1 {
            return self.op(node, name, Op::Identity, parts, Attrs::new());
        }
        self.op(
            node,
            name,
            Op::Concat,
            parts,
            Attrs::new().with("axis", AttrValue::Int(axis)),
        )
    }
}
