//! Lowering a `tl_ir::Graph` plus a payload of weights into a [`BoundNet`].

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayD, IxDyn};
use tl_ir::{AttrValue, Attrs, Graph, NodeKind, Op};

use crate::error::{codes, BoundsError, Result};
use crate::execute::Executor;
use crate::net::{BoundNet, ConcatPart, Layer, NetNode};
use crate::unary::UnaryFn;

/// Weights by param key, as f64 arrays. Any loader can provide one; the verifier never reads files
/// for weights itself.
pub type Payload<'a> = &'a dyn Fn(&str) -> Option<ArrayD<f64>>;

/// The ops [`BoundNet::from_graph`] lowers when an operand depends on the input (some only in
/// the forms their relaxation covers: a product with a constant, pools without ceil mode);
/// constants of any op fold. `tl-vnnlib supports --onnx-operators` answers from this list.
pub const LOWERED_OPS: &[Op] = &[
    Op::Add,
    Op::Sub,
    Op::Mul,
    Op::Div,
    Op::Neg,
    Op::Matmul,
    Op::Linear,
    Op::Conv2d,
    Op::BatchNorm,
    Op::AvgPool2d,
    Op::MaxPool2d,
    Op::Relu,
    Op::LeakyRelu,
    Op::Sigmoid,
    Op::Tanh,
    Op::Gelu,
    Op::Erf,
    Op::Exp,
    Op::Log,
    Op::Sqrt,
    Op::Pow,
    Op::Sum,
    Op::Mean,
    Op::Softmax,
    Op::LayerNorm,
    Op::AttentionWeights,
    Op::ScaledDotProductAttention,
    Op::Reshape,
    Op::Flatten,
    Op::Squeeze,
    Op::Unsqueeze,
    Op::Transpose,
    Op::Permute,
    Op::Slice,
    Op::Concat,
    Op::Pad,
    Op::Identity,
    Op::Dropout,
    Op::Constant,
];

/// Dense lowering refuses matrices above this many entries (a coded error instead of exhausting
/// memory on a large conv net).
pub const MAX_DENSE_ENTRIES: usize = 1 << 26;

enum Val {
    Const(ArrayD<f64>),
    /// A layer and the tensor shape its vector has.
    Var(usize, Vec<usize>),
}

struct Lowerer<'g> {
    graph: &'g Graph,
    nodes: Vec<NetNode>,
    /// Set by [`BoundNet::compose`]: per graph input (signature order), the elements of the shared
    /// input layer (layer 0) it reads.
    shared: Option<&'g [Vec<usize>]>,
}

fn unsupported(name: &str, what: impl std::fmt::Display) -> BoundsError {
    BoundsError::new(codes::UNSUPPORTED_OP, format!("{name}: {what}"))
}

impl BoundNet {
    /// Lowers `graph` with weights from `payload`. `output` picks a named graph output (default:
    /// the first).
    pub fn from_graph(graph: &Graph, payload: Payload, output: Option<&str>) -> Result<BoundNet> {
        graph.validate().map_err(|e| {
            BoundsError::new(
                codes::UNSUPPORTED_GRAPH,
                format!("invalid graph: {}", e.message),
            )
        })?;
        if graph.inputs.len() != 1 {
            return Err(BoundsError::new(
                codes::UNSUPPORTED_GRAPH,
                format!(
                    "the verifier needs exactly one graph input, {} has {}",
                    graph.name,
                    graph.inputs.len()
                ),
            ));
        }
        let out_node = match output {
            None => graph.outputs.first().map(|(_, n)| *n),
            Some(name) => graph
                .outputs
                .iter()
                .find(|(o, _)| o == name)
                .map(|(_, n)| *n),
        }
        .ok_or_else(|| {
            BoundsError::new(
                codes::UNSUPPORTED_GRAPH,
                format!(
                    "graph {} has no output {}",
                    graph.name,
                    output.unwrap_or("")
                ),
            )
        })?;
        let mut lw = Lowerer {
            graph,
            nodes: Vec::new(),
            shared: None,
        };
        let mut vals: Vec<Option<Val>> = Vec::with_capacity(out_node + 1);
        for id in 0..=out_node {
            let v = lw.lower_node(id, &vals, payload)?;
            vals.push(Some(v));
        }
        match vals[out_node].take() {
            Some(Val::Var(layer, _)) => {
                if lw.nodes.is_empty() || !matches!(lw.nodes[0].layer, Layer::Input) {
                    return Err(BoundsError::new(
                        codes::UNSUPPORTED_GRAPH,
                        "the output does not depend on the input",
                    ));
                }
                let n_input = lw.nodes[0].size;
                let exec = Executor::new(
                    n_input,
                    &[(graph, payload, &[(0..n_input).collect()], &[out_node])],
                )?;
                let mut net = BoundNet {
                    nodes: lw.nodes,
                    output: layer,
                    exec: Some(Arc::new(exec)),
                };
                net.fuse_bias_adds();
                Ok(net)
            }
            _ => Err(BoundsError::new(
                codes::UNSUPPORTED_GRAPH,
                "the output does not depend on the input",
            )),
        }
    }

    /// Convenience: weights from a map keyed by param key.
    pub fn from_graph_map(
        graph: &Graph,
        weights: &HashMap<String, ArrayD<f64>>,
        output: Option<&str>,
    ) -> Result<BoundNet> {
        BoundNet::from_graph(graph, &|k: &str| weights.get(k).cloned(), output)
    }
}

/// One network of a [`BoundNet::compose`]d query: its graph and weights, which elements of the
/// shared input each graph input reads, and the nodes whose values the composed output holds.
pub struct Part<'a> {
    pub graph: &'a Graph,
    pub payload: Payload<'a>,
    /// Per graph input (signature order): the shared input's elements, row-major over the
    /// input's shape. Two inputs may read the same elements (a shared input).
    pub inputs: Vec<Vec<usize>>,
    /// Nodes (graph outputs or hidden nodes) whose flattened values make up this part's share
    /// of the composed output, in order.
    pub outputs: Vec<usize>,
}

impl BoundNet {
    /// Lowers several networks over one shared input of `n_input` elements into one net whose
    /// output is the concatenation of every part's `outputs`, in order. A linear constraint on
    /// that output relates values of different networks (a difference network sharing the
    /// input), of several outputs or hidden nodes of one network. The concatenation is built from
    /// exact layers (gathers, scales by 0 and 1, additions of zero): bounds on it are the bounds
    /// of the parts, and its executor runs the parts side by side.
    pub fn compose(n_input: usize, parts: &[Part]) -> Result<BoundNet> {
        if n_input == 0 {
            return Err(BoundsError::new(
                codes::UNSUPPORTED_GRAPH,
                "a composed network needs at least one input element",
            ));
        }
        let mut nodes = vec![NetNode {
            layer: Layer::Input,
            size: n_input,
            name: "input".into(),
            shape: vec![n_input],
        }];
        // (layer, size) of every piece of the output.
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        for part in parts {
            let graph = part.graph;
            graph.validate().map_err(|e| {
                BoundsError::new(
                    codes::UNSUPPORTED_GRAPH,
                    format!("invalid graph: {}", e.message),
                )
            })?;
            if part.inputs.len() != graph.inputs.len() {
                return Err(BoundsError::new(
                    codes::UNSUPPORTED_GRAPH,
                    format!(
                        "graph {} has {} inputs, {} were mapped",
                        graph.name,
                        graph.inputs.len(),
                        part.inputs.len()
                    ),
                ));
            }
            let Some(&last) = part.outputs.iter().max() else {
                continue;
            };
            if last >= graph.nodes.len() {
                return Err(BoundsError::new(
                    codes::UNSUPPORTED_GRAPH,
                    format!("graph {} has no node {last}", graph.name),
                ));
            }
            let mut lw = Lowerer {
                graph,
                nodes: std::mem::take(&mut nodes),
                shared: Some(&part.inputs),
            };
            let mut vals: Vec<Option<Val>> = Vec::with_capacity(last + 1);
            for id in 0..=last {
                let v = lw.lower_node(id, &vals, part.payload)?;
                vals.push(Some(v));
            }
            for &o in &part.outputs {
                let piece = match vals[o].as_ref().unwrap() {
                    Val::Var(layer, shape) => (*layer, numel(shape)),
                    Val::Const(c) => {
                        // A value that does not depend on the input: 0 * x[0..] + c.
                        let n = c.len();
                        let g = lw.nodes.len();
                        lw.nodes.push(NetNode {
                            layer: Layer::Gather {
                                src: 0,
                                index: vec![0; n],
                            },
                            size: n,
                            name: format!("{}.const", graph.nodes[o].name),
                            shape: vec![n],
                        });
                        lw.nodes.push(NetNode {
                            layer: Layer::Scale {
                                src: g,
                                scale: Array1::zeros(n),
                                shift: c.iter().cloned().collect(),
                                coef_ulps: 0,
                                shift_err: Array1::zeros(n),
                                f32_fold_terms: Array1::zeros(n),
                            },
                            size: n,
                            name: graph.nodes[o].name.clone(),
                            shape: vec![n],
                        });
                        (lw.nodes.len() - 1, n)
                    }
                };
                pieces.push(piece);
            }
            nodes = lw.nodes;
        }
        let total: usize = pieces.iter().map(|p| p.1).sum();
        if pieces.is_empty() || total == 0 {
            return Err(BoundsError::new(
                codes::UNSUPPORTED_GRAPH,
                "a composed network needs at least one output element",
            ));
        }
        let output = if pieces.len() == 1 {
            pieces[0].0
        } else {
            // Each piece placed at its offset of a `total`-vector (gather, then zero the rest),
            // the placed pieces summed.
            let mut acc: Option<usize> = None;
            let mut offset = 0;
            for (layer, size) in pieces {
                let index: Vec<usize> = (0..total)
                    .map(|j| {
                        if (offset..offset + size).contains(&j) {
                            j - offset
                        } else {
                            0
                        }
                    })
                    .collect();
                let scale: Array1<f64> = (0..total)
                    .map(|j| f64::from(u8::from((offset..offset + size).contains(&j))))
                    .collect();
                let name = nodes[layer].name.clone();
                nodes.push(NetNode {
                    layer: Layer::Gather { src: layer, index },
                    size: total,
                    name: format!("{name}.placed"),
                    shape: vec![total],
                });
                let g = nodes.len() - 1;
                nodes.push(NetNode {
                    layer: Layer::Scale {
                        src: g,
                        scale,
                        shift: Array1::zeros(total),
                        coef_ulps: 0,
                        shift_err: Array1::zeros(total),
                        f32_fold_terms: Array1::zeros(total),
                    },
                    size: total,
                    name: format!("{name}.masked"),
                    shape: vec![total],
                });
                let m = nodes.len() - 1;
                acc = Some(match acc {
                    None => m,
                    Some(a) => {
                        nodes.push(NetNode {
                            layer: Layer::Add { a, b: m },
                            size: total,
                            name: format!("{name}.concat"),
                            shape: vec![total],
                        });
                        nodes.len() - 1
                    }
                });
                offset += size;
            }
            acc.unwrap()
        };
        let sources: Vec<_> = parts
            .iter()
            .map(|p| {
                (
                    p.graph,
                    p.payload,
                    p.inputs.as_slice(),
                    p.outputs.as_slice(),
                )
            })
            .collect();
        let exec = Executor::new(n_input, &sources)?;
        let mut net = BoundNet {
            nodes,
            output,
            exec: Some(Arc::new(exec)),
        };
        net.fuse_bias_adds();
        Ok(net)
    }
}

fn known_shape(graph: &Graph, id: usize) -> Result<Vec<usize>> {
    let n = &graph.nodes[id];
    n.shape
        .as_known()
        .map(|v| v.into_iter().map(|d| d as usize).collect())
        .ok_or_else(|| {
            BoundsError::new(
                codes::UNSUPPORTED_GRAPH,
                format!(
                    "{} has symbolic shape {}; bind every extent before verifying",
                    n.name, n.shape
                ),
            )
        })
}

fn check_finite(name: &str, a: &ArrayD<f64>) -> Result<()> {
    if a.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(BoundsError::new(
            codes::NON_FINITE,
            format!("{name} contains NaN or infinite values"),
        ))
    }
}

fn literal(name: &str, attrs: &Attrs) -> Result<ArrayD<f64>> {
    let bad = || BoundsError::new(codes::UNSUPPORTED_OP, format!("{name}: bad constant value"));
    let a = match attrs.get("value") {
        Some(AttrValue::Tensor { shape, data }) => {
            let sh: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            ArrayD::from_shape_vec(IxDyn(&sh), data.clone()).map_err(|_| bad())?
        }
        Some(AttrValue::Ints(v)) => {
            ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.iter().map(|&x| x as f64).collect())
                .map_err(|_| bad())?
        }
        Some(v) => ArrayD::from_elem(IxDyn(&[]), v.as_f64().ok_or_else(bad)?),
        None => return Err(bad()),
    };
    check_finite(name, &a)?;
    Ok(a)
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// For a reduction over the `axes` attribute (all axes when absent) of an `xs`-shaped input: the
/// output element each input element (row-major) reduces into, and how many elements each
/// output reduces.
fn reduction_rows(
    name: &str,
    attrs: &Attrs,
    xs: &[usize],
    out_shape: &[usize],
) -> Result<(Vec<usize>, usize)> {
    let rank = xs.len();
    let axes: Vec<usize> = match attrs.ints("axes") {
        Some(v) => v
            .iter()
            .map(|&a| norm_axis(name, a, rank))
            .collect::<Result<_>>()?,
        None => (0..rank).collect(),
    };
    let kept: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
    let kept_shape: Vec<usize> = kept.iter().map(|&d| xs[d]).collect();
    if numel(&kept_shape) != numel(out_shape) {
        return Err(unsupported(
            name,
            format!("reducing {xs:?} over {axes:?} does not give {out_shape:?}"),
        ));
    }
    let kstrides = row_major_strides(&kept_shape);
    let rows = (0..numel(xs))
        .map(|flat| {
            let idx = unravel(flat, xs);
            kept.iter().zip(&kstrides).map(|(&d, s)| idx[d] * s).sum()
        })
        .collect();
    let count = axes.iter().map(|&d| xs[d]).product();
    Ok((rows, count))
}

/// `op` on constant operands, evaluated by `tl_kernels::exec::denote` (f64) as a one-node graph.
fn fold_by_reference(
    name: &str,
    op: Op,
    attrs: &Attrs,
    args: &[&ArrayD<f64>],
    out_shape: &[usize],
) -> Result<ArrayD<f64>> {
    use std::collections::BTreeMap;
    use tl_kernels::Tensor;
    let fail = |why: String| {
        unsupported(
            name,
            format!("{} of constants could not be folded: {why}", op.name()),
        )
    };
    let mut g = Graph::new("fold");
    let mut inputs = BTreeMap::new();
    let mut parents = Vec::new();
    for (k, a) in args.iter().enumerate() {
        let input = format!("c{k}");
        let dims: Vec<u64> = a.shape().iter().map(|&d| d as u64).collect();
        parents.push(g.add_input(input.clone(), tl_ir::Shape::known(&dims), tl_ir::DType::F64));
        let t = Tensor::from_f64(a.shape(), a.iter().cloned().collect())
            .map_err(|e| fail(e.to_string()))?;
        inputs.insert(input, t);
    }
    let out = g
        .add_op(name, op, parents, attrs.clone())
        .map_err(|e| fail(e.message))?;
    g.add_output(name, out);
    let payload: BTreeMap<String, Tensor> = BTreeMap::new();
    let value = tl_kernels::exec::denote(&g, &payload, &inputs)
        .map_err(|e| fail(e.to_string()))?
        .output(name)
        .ok_or_else(|| fail("no output".into()))?
        .to_f64();
    if value.shape() != out_shape {
        return Err(fail(format!(
            "it has shape {:?}, the graph says {out_shape:?}",
            value.shape()
        )));
    }
    Ok(value)
}

/// Broadcasts a constant to `shape` and flattens it.
fn broadcast_flat(name: &str, c: &ArrayD<f64>, shape: &[usize]) -> Result<Array1<f64>> {
    let b = c.broadcast(IxDyn(shape)).ok_or_else(|| {
        unsupported(
            name,
            format!(
                "constant of shape {:?} does not broadcast to the input-dependent operand's shape {shape:?}",
                c.shape()
            ),
        )
    })?;
    Ok(b.iter().cloned().collect())
}

impl Lowerer<'_> {
    fn push(&mut self, layer: Layer, id: usize, shape: Vec<usize>) -> Result<Val> {
        let size = numel(&shape);
        if let Layer::Affine { w, .. } = &layer {
            debug_assert_eq!(w.nrows(), size);
        }
        self.nodes.push(NetNode {
            layer,
            size,
            name: self.graph.nodes[id].name.clone(),
            shape: shape.clone(),
        });
        Ok(Val::Var(self.nodes.len() - 1, shape))
    }

    fn dense(&self, name: &str, rows: usize, cols: usize) -> Result<Array2<f64>> {
        if rows.saturating_mul(cols) > MAX_DENSE_ENTRIES {
            return Err(BoundsError::new(
                codes::UNSUPPORTED_GRAPH,
                format!(
                    "{name}: a {rows} x {cols} dense relaxation exceeds the verifier's size limit ({MAX_DENSE_ENTRIES} entries)"
                ),
            ));
        }
        Ok(Array2::zeros((rows, cols)))
    }

    fn lower_node(&mut self, id: usize, vals: &[Option<Val>], payload: Payload) -> Result<Val> {
        let g = self.graph;
        let node = &g.nodes[id];
        let name = node.name.as_str();
        match &node.kind {
            NodeKind::Input => {
                let shape = known_shape(g, id)?;
                if let Some(map) = self.shared {
                    let k = g.inputs.iter().position(|&i| i == id);
                    let index = k.and_then(|k| map.get(k)).ok_or_else(|| {
                        BoundsError::new(
                            codes::UNSUPPORTED_GRAPH,
                            format!("{name}: no shared input elements for this graph input"),
                        )
                    })?;
                    if index.len() != numel(&shape)
                        || index.iter().any(|&i| i >= self.nodes[0].size)
                    {
                        return Err(BoundsError::new(
                            codes::UNSUPPORTED_GRAPH,
                            format!(
                                "{name}: {} shared input elements for an input of shape {shape:?}",
                                index.len()
                            ),
                        ));
                    }
                    let index = index.clone();
                    return self.push(Layer::Gather { src: 0, index }, id, shape);
                }
                if !self.nodes.is_empty() {
                    return Err(BoundsError::new(
                        codes::UNSUPPORTED_GRAPH,
                        "only one input is supported",
                    ));
                }
                self.push(Layer::Input, id, shape)
            }
            NodeKind::Param { key } => {
                let shape = known_shape(g, id)?;
                let a = payload(key).ok_or_else(|| {
                    BoundsError::new(codes::BAD_PAYLOAD, format!("payload has no weight {key}"))
                })?;
                if a.shape() != shape.as_slice() {
                    return Err(BoundsError::new(
                        codes::BAD_PAYLOAD,
                        format!(
                            "weight {key} has shape {:?}, the graph declares {shape:?}",
                            a.shape()
                        ),
                    ));
                }
                check_finite(key, &a)?;
                Ok(Val::Const(a))
            }
            NodeKind::Op { op, attrs } => {
                let args: Vec<&Val> = node
                    .parents
                    .iter()
                    .map(|&p| vals[p].as_ref().expect("parents come first"))
                    .collect();
                let out_shape = known_shape(g, id)?;
                if args.iter().all(|a| matches!(a, Val::Const(_))) {
                    let consts: Vec<&ArrayD<f64>> = args
                        .iter()
                        .map(|a| match a {
                            Val::Const(c) => c,
                            Val::Var(..) => unreachable!(),
                        })
                        .collect();
                    return self
                        .fold(name, *op, attrs, &consts, &out_shape)
                        .map(Val::Const);
                }
                self.lower_op(id, *op, attrs, &args, out_shape)
            }
        }
    }

    /// Evaluates an op whose operands are all constants.
    fn fold(
        &self,
        name: &str,
        op: Op,
        attrs: &Attrs,
        args: &[&ArrayD<f64>],
        out_shape: &[usize],
    ) -> Result<ArrayD<f64>> {
        let reshaped = |a: &ArrayD<f64>| -> Result<ArrayD<f64>> {
            let v: Vec<f64> = a.iter().cloned().collect();
            ArrayD::from_shape_vec(IxDyn(out_shape), v)
                .map_err(|e| unsupported(name, format!("reshape of a constant: {e}")))
        };
        let bin = |f: fn(f64, f64) -> f64| -> Result<ArrayD<f64>> {
            let a = args[0]
                .broadcast(IxDyn(out_shape))
                .ok_or_else(|| unsupported(name, "operands do not broadcast"))?;
            let b = args[1]
                .broadcast(IxDyn(out_shape))
                .ok_or_else(|| unsupported(name, "operands do not broadcast"))?;
            Ok(ndarray::Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)))
        };
        let out = match op {
            Op::Constant => literal(name, attrs)?,
            Op::Reshape
            | Op::Flatten
            | Op::Identity
            | Op::Dropout
            | Op::Squeeze
            | Op::Unsqueeze => reshaped(args[0])?,
            Op::Neg => args[0].mapv(|x| -x),
            Op::Add => bin(|x, y| x + y)?,
            Op::Sub => bin(|x, y| x - y)?,
            Op::Mul => bin(|x, y| x * y)?,
            Op::Div => bin(|x, y| x / y)?,
            Op::Concat => {
                let axis = norm_axis(name, attrs.int("axis", 0), out_shape.len())?;
                let views: Vec<_> = args.iter().map(|a| a.view()).collect();
                ndarray::concatenate(ndarray::Axis(axis), &views)
                    .map_err(|e| unsupported(name, format!("concat of constants: {e}")))?
            }
            Op::Pad => {
                let (index, value) = pad_index(name, attrs, args[0].shape(), out_shape)?;
                let flat: Vec<f64> = args[0].iter().cloned().collect();
                let v = index.iter().map(|k| k.map_or(value, |k| flat[k])).collect();
                ArrayD::from_shape_vec(IxDyn(out_shape), v)
                    .map_err(|e| unsupported(name, format!("pad of a constant: {e}")))?
            }
            // Anything else (slice, transpose, a unary op, ...): kernels' reference evaluator,
            // so a folded constant means what the executors compute.
            _ => fold_by_reference(name, op, attrs, args, out_shape)?,
        };
        check_finite(name, &out)?;
        Ok(out)
    }

    fn lower_op(
        &mut self,
        id: usize,
        op: Op,
        attrs: &Attrs,
        args: &[&Val],
        out_shape: Vec<usize>,
    ) -> Result<Val> {
        let name = self.graph.nodes[id].name.clone();
        let name = name.as_str();
        let out_n = numel(&out_shape);
        match (op, args) {
            (
                Op::Reshape
                | Op::Flatten
                | Op::Identity
                | Op::Dropout
                | Op::Squeeze
                | Op::Unsqueeze,
                [Val::Var(src, _)],
            ) => Ok(Val::Var(*src, out_shape)),
            (Op::Relu, [Val::Var(src, _)]) => self.push(Layer::Relu { src: *src }, id, out_shape),
            (Op::Sigmoid, [Val::Var(src, _)]) => {
                self.push(Layer::Sigmoid { src: *src }, id, out_shape)
            }
            (Op::Tanh, [Val::Var(src, _)]) => self.push(Layer::Tanh { src: *src }, id, out_shape),
            (Op::LeakyRelu, [Val::Var(src, _)]) => {
                let alpha = attrs.float("alpha", 0.01);
                if !alpha.is_finite() || !(0.0..=1.0).contains(&alpha) {
                    return Err(unsupported(
                        name,
                        format!("leaky_relu alpha {alpha} outside [0, 1]"),
                    ));
                }
                self.push(Layer::LeakyRelu { src: *src, alpha }, id, out_shape)
            }
            (Op::Neg, [Val::Var(src, _)]) => self.push(
                Layer::Scale {
                    src: *src,
                    scale: Array1::from_elem(out_n, -1.0),
                    shift: Array1::zeros(out_n),
                    coef_ulps: 0,
                    shift_err: Array1::zeros(out_n),
                    f32_fold_terms: Array1::zeros(out_n),
                },
                id,
                out_shape,
            ),
            (Op::Add | Op::Sub, [Val::Var(a, sa), Val::Var(b, sb)]) => {
                // A numpy broadcast of either operand is a gather (exact data movement).
                let a = &self.broadcast_var(id, "a", *a, sa, &out_shape)?;
                let b = &self.broadcast_var(id, "b", *b, sb, &out_shape)?;
                let layer = if op == Op::Add {
                    Layer::Add { a: *a, b: *b }
                } else {
                    Layer::Sub { a: *a, b: *b }
                };
                self.push(layer, id, out_shape)
            }
            (Op::Mul, [Val::Var(a, sa), Val::Var(b, sb)]) => {
                let a = self.broadcast_var(id, "a", *a, sa, &out_shape)?;
                let b = self.broadcast_var(id, "b", *b, sb, &out_shape)?;
                self.push(Layer::Mul { a, b }, id, out_shape)
            }
            (Op::Div, [Val::Var(a, sa), Val::Var(b, sb)]) => {
                let r = self.push_part(
                    Layer::Unary { src: *b, f: UnaryFn::Reciprocal },
                    id,
                    "reciprocal",
                    sb.clone(),
                )?;
                let a = self.broadcast_var(id, "a", *a, sa, &out_shape)?;
                let r = self.broadcast_var(id, "b", r, sb, &out_shape)?;
                self.push(Layer::Mul { a, b: r }, id, out_shape)
            }
            (Op::Div, [Val::Const(c), Val::Var(src, xs)]) => {
                // c / x = c * (1 / x) for x > 0.
                let r = self.push_part(
                    Layer::Unary { src: *src, f: UnaryFn::Reciprocal },
                    id,
                    "reciprocal",
                    xs.clone(),
                )?;
                let r = Val::Var(r, xs.clone());
                self.lower_const_binary(id, Op::Mul, &Val::Const(c.clone()), &r, out_shape)
            }
            (Op::Add | Op::Sub | Op::Mul | Op::Div, [x, y]) => {
                self.lower_const_binary(id, op, x, y, out_shape)
            }
            (Op::Exp | Op::Log | Op::Sqrt | Op::Erf | Op::Gelu, [Val::Var(src, _)]) => {
                let f = match op {
                    Op::Exp => UnaryFn::Exp,
                    Op::Log => UnaryFn::Log,
                    Op::Sqrt => UnaryFn::Sqrt,
                    Op::Erf => UnaryFn::Erf,
                    _ if attrs.str("approximate", "none") == "tanh" => UnaryFn::GeluTanh,
                    _ => UnaryFn::Gelu,
                };
                self.push(Layer::Unary { src: *src, f }, id, out_shape)
            }
            (Op::Pow, [Val::Var(src, xs), Val::Const(e)]) => {
                let p = e.iter().next().copied().unwrap_or(f64::NAN);
                if e.iter().any(|&v| v != p) || *xs != out_shape {
                    return Err(unsupported(name, "pow needs one constant exponent"));
                }
                let f = match p {
                    1.0 => return Ok(Val::Var(*src, out_shape)),
                    2.0 => UnaryFn::Square,
                    0.5 => UnaryFn::Sqrt,
                    -1.0 => UnaryFn::Reciprocal,
                    -0.5 => UnaryFn::Rsqrt,
                    _ => {
                        return Err(unsupported(
                            name,
                            format!("pow by {p} (the verifier bounds exponents 2, 0.5, 1, -1 and -0.5)"),
                        ))
                    }
                };
                self.push(Layer::Unary { src: *src, f }, id, out_shape)
            }
            (Op::Matmul, [Val::Var(a, sa), Val::Var(b, sb)]) => {
                self.matmul_vars(id, (*a, sa), (*b, sb), false, out_shape)
            }
            (Op::Max, [Val::Var(src, xs)]) => self.reduce_max(id, attrs, *src, xs, out_shape),
            (Op::Sum | Op::Mean, [Val::Var(src, xs)]) => {
                self.reduce(id, op == Op::Mean, attrs, *src, xs, out_shape)
            }
            (Op::Softmax, [Val::Var(src, xs)]) => {
                let axis = norm_axis(name, attrs.int("axis", -1), xs.len())?;
                let groups = lanes(xs, axis);
                self.push(Layer::Softmax { src: *src, groups }, id, out_shape)
            }
            (Op::LayerNorm, [Val::Var(src, xs), rest @ ..]) => {
                let consts: Vec<&ArrayD<f64>> = rest
                    .iter()
                    .map(|v| match v {
                        Val::Const(c) => Ok(c),
                        Val::Var(..) => Err(unsupported(name, "layer_norm weight and bias must be constants")),
                    })
                    .collect::<Result<_>>()?;
                self.layer_norm(id, attrs, *src, xs, &consts, out_shape)
            }
            (Op::AttentionWeights | Op::ScaledDotProductAttention, [q, k, rest @ ..]) => {
                self.attention(id, op, attrs, q, k, rest, out_shape)
            }
            (Op::Linear, [Val::Var(src, xs), Val::Const(w), rest @ ..]) => {
                let bias = match rest {
                    [] => None,
                    [Val::Const(b)] => Some(b),
                    _ => return Err(unsupported(name, "linear bias must be a constant")),
                };
                let (out_f, in_f) = (w.shape()[0], w.shape()[1]);
                let lead = numel(xs) / in_f.max(1);
                let mut m = self.dense(name, out_n, numel(xs))?;
                let mut b = Array1::zeros(out_n);
                for r in 0..lead {
                    for o in 0..out_f {
                        for i in 0..in_f {
                            m[[r * out_f + o, r * in_f + i]] = w[[o, i]];
                        }
                        if let Some(bias) = bias {
                            b[r * out_f + o] = bias[[o]];
                        }
                    }
                }
                self.push(
                    Layer::affine(*src, m, b, 0),
                    id,
                    out_shape,
                )
            }
            (Op::Matmul, [Val::Var(src, xs), Val::Const(c)]) => {
                if c.ndim() != 2 {
                    return Err(unsupported(
                        name,
                        "matmul with a constant needs a 2-D constant operand",
                    ));
                }
                let (k, mcols) = (c.shape()[0], c.shape()[1]);
                let rows = numel(xs) / k.max(1);
                let mut m = self.dense(name, out_n, numel(xs))?;
                for r in 0..rows {
                    for j in 0..mcols {
                        for t in 0..k {
                            m[[r * mcols + j, r * k + t]] = c[[t, j]];
                        }
                    }
                }
                self.push(
                    Layer::affine(*src, m, Array1::zeros(out_n), 0),
                    id,
                    out_shape,
                )
            }
            (Op::Matmul, [Val::Const(c), Val::Var(src, xs)]) => {
                if c.ndim() != 2 || xs.len() > 2 {
                    return Err(unsupported(
                        name,
                        "constant @ tensor needs a 2-D constant and a 1-D or 2-D operand",
                    ));
                }
                let (n, k) = (c.shape()[0], c.shape()[1]);
                let mcols = if xs.len() == 2 { xs[1] } else { 1 };
                let mut m = self.dense(name, out_n, numel(xs))?;
                for i in 0..n {
                    for j in 0..mcols {
                        for t in 0..k {
                            m[[i * mcols + j, t * mcols + j]] = c[[i, t]];
                        }
                    }
                }
                self.push(
                    Layer::affine(*src, m, Array1::zeros(out_n), 0),
                    id,
                    out_shape,
                )
            }
            (Op::Conv2d, [Val::Var(src, xs), Val::Const(w), rest @ ..]) => {
                let bias = match rest {
                    [] => None,
                    [Val::Const(b)] => Some(b),
                    _ => return Err(unsupported(name, "conv2d bias must be a constant")),
                };
                let (m, b) = self.conv2d(name, attrs, xs, w, bias, &out_shape)?;
                self.push(
                    Layer::affine(*src, m, b, 0),
                    id,
                    out_shape,
                )
            }
            (
                Op::BatchNorm,
                [Val::Var(src, xs), Val::Const(w), Val::Const(b), Val::Const(mean), Val::Const(var)],
            ) => {
                let eps = attrs.float("eps", 1e-5);
                let c = xs[1];
                let per_c = numel(&xs[2..]);
                let (mut scale, mut shift, mut shift_err) =
                    (Array1::zeros(out_n), Array1::zeros(out_n), Array1::zeros(out_n));
                let mut f32_fold_terms = Array1::zeros(out_n);
                for n in 0..xs[0] {
                    for ch in 0..c {
                        let denom = (var[[ch]] + eps).sqrt();
                        if !(denom > 0.0) {
                            return Err(BoundsError::new(
                                codes::NON_FINITE,
                                format!("{name}: running_var + eps is not positive"),
                            ));
                        }
                        let s = w[[ch]] / denom;
                        let t = b[[ch]] - mean[[ch]] * s;
                        // s carries <= 3 roundings (add, sqrt, div); t two more on top of s's.
                        let fold = b[[ch]].abs() + (mean[[ch]] * s).abs();
                        let err = 6.0 * f64::EPSILON * fold;
                        for k in 0..per_c {
                            let i = (n * c + ch) * per_c + k;
                            scale[i] = s;
                            shift[i] = t;
                            shift_err[i] = err;
                            f32_fold_terms[i] = fold;
                        }
                    }
                }
                self.push(
                    Layer::Scale {
                        src: *src,
                        scale,
                        shift,
                        coef_ulps: 3,
                        shift_err,
                        f32_fold_terms,
                    },
                    id,
                    out_shape,
                )
            }
            (Op::AvgPool2d | Op::MaxPool2d, [Val::Var(src, xs)]) => {
                self.pool(id, op, attrs, *src, xs, out_shape)
            }
            (Op::Transpose | Op::Permute, [Val::Var(src, xs)]) => {
                let rank = xs.len();
                let mut perm: Vec<usize> = (0..rank).collect();
                let ax = |a: i64| -> Result<usize> {
                    let r = rank as i64;
                    let v = if a < 0 { a + r } else { a };
                    if (0..r).contains(&v) {
                        Ok(v as usize)
                    } else {
                        Err(unsupported(name, "axis out of range"))
                    }
                };
                if op == Op::Transpose {
                    perm.swap(ax(attrs.int("dim0", -2))?, ax(attrs.int("dim1", -1))?);
                } else {
                    let dims = attrs
                        .ints("dims")
                        .ok_or_else(|| unsupported(name, "permute needs dims"))?;
                    perm = dims.iter().map(|&d| ax(d)).collect::<Result<_>>()?;
                }
                let strides = row_major_strides(xs);
                let index = (0..out_n)
                    .map(|flat| {
                        let idx = unravel(flat, &out_shape);
                        (0..rank).map(|i| idx[i] * strides[perm[i]]).sum()
                    })
                    .collect();
                self.push(Layer::Gather { src: *src, index }, id, out_shape)
            }
            (Op::Slice, [Val::Var(src, xs)]) => {
                let rank = xs.len() as i64;
                let a = attrs.int("axis", 0);
                let axis = if a < 0 { a + rank } else { a } as usize;
                let len = xs[axis] as i64;
                let clamp = |v: i64| if v < 0 { (v + len).max(0) } else { v.min(len) };
                let start = clamp(attrs.int("start", 0));
                let step = attrs.int("step", 1).max(1) as usize;
                let strides = row_major_strides(xs);
                let index = (0..out_n)
                    .map(|flat| {
                        let mut idx = unravel(flat, &out_shape);
                        idx[axis] = start as usize + idx[axis] * step;
                        idx.iter().zip(&strides).map(|(i, s)| i * s).sum()
                    })
                    .collect();
                self.push(Layer::Gather { src: *src, index }, id, out_shape)
            }
            (Op::Concat, parts) => self.concat(id, attrs, parts, out_shape),
            (Op::Pad, [Val::Var(src, xs)]) => {
                let (index, value) = pad_index(name, attrs, xs, &out_shape)?;
                let n = numel(xs);
                if index.iter().all(Option::is_some) {
                    // Reflect and edge modes (and constant mode with no fill) only gather.
                    if *xs == out_shape && index.iter().enumerate().all(|(j, k)| *k == Some(j)) {
                        return Ok(Val::Var(*src, out_shape));
                    }
                    let index = index.into_iter().map(|k| k.unwrap_or(0)).collect();
                    return self.push(Layer::Gather { src: *src, index }, id, out_shape);
                }
                // Constant mode: the fill value as one more element, gathered where it goes.
                let parts = vec![ConcatPart::Layer(*src), ConcatPart::Const(Array1::from_elem(1, value))];
                let fill = self.push_part(Layer::Concat { parts }, id, "fill", vec![n + 1])?;
                let index = index.into_iter().map(|k| k.unwrap_or(n)).collect();
                self.push(Layer::Gather { src: fill, index }, id, out_shape)
            }
            _ => Err(unsupported(
                name,
                format!(
                    "{} is not supported by the bound verifier in this form (supported: linear, matmul, conv2d, relu, leaky_relu, sigmoid, tanh, gelu, erf, exp, log, sqrt, pow by 2/0.5/-1/-0.5, add/sub/mul/div (division by a positive tensor), neg, sum/mean/max over axes, softmax, layer_norm, attention_weights/scaled_dot_product_attention without a mask, batch_norm, avg_pool2d, max_pool2d, flatten/reshape, transpose/permute/slice, concat, pad (constant, reflect, edge), identity, dropout, constants)",
                    op.name()
                ),
            )),
        }
    }

    /// `concat` along any axis of computed tensors and constants: the parts' vectors one after
    /// another ([`Layer::Concat`]), then, when the axis is not the outermost non-trivial one, a
    /// gather interleaving the blocks into row-major order.
    fn concat(
        &mut self,
        id: usize,
        attrs: &Attrs,
        args: &[&Val],
        out_shape: Vec<usize>,
    ) -> Result<Val> {
        let name = self.graph.nodes[id].name.clone();
        let name = name.as_str();
        let rank = out_shape.len();
        let axis = norm_axis(name, attrs.int("axis", 0), rank)?;
        let outer = numel(&out_shape[..axis]);
        let inner = numel(&out_shape[axis + 1..]);
        // (part, its extent along the axis), empty operands left out.
        let mut parts: Vec<(ConcatPart, usize)> = Vec::new();
        for a in args {
            let (part, shape) = match a {
                Val::Var(k, s) => (ConcatPart::Layer(*k), s.clone()),
                Val::Const(c) => (
                    ConcatPart::Const(c.iter().cloned().collect()),
                    c.shape().to_vec(),
                ),
            };
            let fits = shape.len() == rank
                && shape
                    .iter()
                    .zip(&out_shape)
                    .enumerate()
                    .all(|(j, (d, o))| j == axis || d == o);
            if !fits {
                return Err(unsupported(
                    name,
                    format!("concat operand of shape {shape:?} does not fit the output {out_shape:?} along axis {axis}"),
                ));
            }
            if numel(&shape) > 0 {
                parts.push((part, shape[axis]));
            }
        }
        let total: usize = parts.iter().map(|p| p.1).sum();
        if total != out_shape.get(axis).copied().unwrap_or(0) {
            return Err(unsupported(
                name,
                format!("concat operands' extents along axis {axis} add to {total}, the output has {out_shape:?}"),
            ));
        }
        if let [(ConcatPart::Layer(k), _)] = parts.as_slice() {
            return Ok(Val::Var(*k, out_shape));
        }
        let extents: Vec<usize> = parts.iter().map(|p| p.1).collect();
        let layer = Layer::Concat {
            parts: parts.into_iter().map(|p| p.0).collect(),
        };
        if outer <= 1 || extents.len() <= 1 {
            return self.push(layer, id, out_shape);
        }
        let out_n = numel(&out_shape);
        let blocks = self.push_part(layer, id, "blocks", vec![out_n])?;
        // Per position along the axis: its part, the part's first position and its block offset.
        let mut at = Vec::with_capacity(total);
        let (mut start, mut offset) = (0, 0);
        for &n in &extents {
            for _ in 0..n {
                at.push((n, start, offset));
            }
            start += n;
            offset += outer * n * inner;
        }
        let index = (0..out_n)
            .map(|flat| {
                let (o, rem) = (flat / (total * inner), flat % (total * inner));
                let (a, i) = (rem / inner, rem % inner);
                let (n, start, offset) = at[a];
                offset + (o * n + a - start) * inner + i
            })
            .collect();
        self.push(Layer::Gather { src: blocks, index }, id, out_shape)
    }

    fn lower_const_binary(
        &mut self,
        id: usize,
        op: Op,
        x: &Val,
        y: &Val,
        out_shape: Vec<usize>,
    ) -> Result<Val> {
        let name = self.graph.nodes[id].name.clone();
        let n = numel(&out_shape);
        let (src, var_shape, c, var_first) = match (x, y) {
            (Val::Var(s, sh), Val::Const(c)) => (*s, sh, c, true),
            (Val::Const(c), Val::Var(s, sh)) => (*s, sh, c, false),
            _ => unreachable!("one operand is constant"),
        };
        if *var_shape != out_shape {
            return Err(unsupported(
                &name,
                format!(
                    "the input-dependent operand {var_shape:?} would be broadcast to {out_shape:?}"
                ),
            ));
        }
        let c = broadcast_flat(&name, c, &out_shape)?;
        let ones = Array1::from_elem(n, 1.0);
        let zeros = Array1::zeros(n);
        let (scale, shift, coef_ulps) = match (op, var_first) {
            (Op::Add, _) => (ones, c, 0),
            (Op::Sub, true) => (ones, -c, 0),
            (Op::Sub, false) => (-ones, c, 0),
            (Op::Mul, _) => (c, zeros, 0),
            (Op::Div, true) => {
                if c.iter().any(|&v| v == 0.0) {
                    return Err(BoundsError::new(
                        codes::NON_FINITE,
                        format!("{name}: division by a constant zero"),
                    ));
                }
                (c.mapv(|v| 1.0 / v), zeros, 1)
            }
            _ => {
                return Err(unsupported(
                    &name,
                    "constant / tensor is not linear; the verifier cannot relax it",
                ))
            }
        };
        self.push(
            Layer::Scale {
                src,
                scale,
                shift,
                coef_ulps,
                shift_err: Array1::zeros(n),
                f32_fold_terms: Array1::zeros(n),
            },
            id,
            out_shape,
        )
    }

    fn conv2d(
        &self,
        name: &str,
        attrs: &Attrs,
        xs: &[usize],
        w: &ArrayD<f64>,
        bias: Option<&ArrayD<f64>>,
        out_shape: &[usize],
    ) -> Result<(Array2<f64>, Array1<f64>)> {
        let sp = |a: &str, d: i64| -> Vec<usize> {
            attrs
                .spatial(a, 2, d)
                .unwrap_or(vec![d, d])
                .into_iter()
                .map(|v| v as usize)
                .collect()
        };
        let (stride, pad, dil) = (sp("stride", 1), sp("padding", 0), sp("dilation", 1));
        let groups = attrs.int("groups", 1).max(1) as usize;
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
        let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
        let (oh, ow) = (out_shape[2], out_shape[3]);
        let og = o / groups;
        let mut m = self.dense(name, numel(out_shape), numel(xs))?;
        let mut b = Array1::zeros(numel(out_shape));
        for bn in 0..n {
            for oc in 0..o {
                let g = oc / og;
                for y in 0..oh {
                    for x in 0..ow {
                        let row = ((bn * o + oc) * oh + y) * ow + x;
                        if let Some(bias) = bias {
                            b[row] = bias[[oc]];
                        }
                        for ic in 0..cg {
                            let ch = g * cg + ic;
                            for ky in 0..kh {
                                let iy = (y * stride[0] + ky * dil[0]) as isize - pad[0] as isize;
                                if iy < 0 || iy >= h as isize {
                                    continue;
                                }
                                for kx in 0..kw {
                                    let ix =
                                        (x * stride[1] + kx * dil[1]) as isize - pad[1] as isize;
                                    if ix < 0 || ix >= wd as isize {
                                        continue;
                                    }
                                    let col = ((bn * c + ch) * h + iy as usize) * wd + ix as usize;
                                    m[[row, col]] += w[[oc, ic, ky, kx]];
                                }
                            }
                        }
                    }
                }
            }
        }
        let _ = c;
        Ok((m, b))
    }

    fn pool(
        &mut self,
        id: usize,
        op: Op,
        attrs: &Attrs,
        src: usize,
        xs: &[usize],
        out_shape: Vec<usize>,
    ) -> Result<Val> {
        let name = self.graph.nodes[id].name.clone();
        let sp = |a: &str, d: Vec<i64>| -> Vec<usize> {
            match attrs.ints(a) {
                Some(v) if v.len() == 1 => vec![v[0] as usize; 2],
                Some(v) => v.into_iter().map(|x| x as usize).collect(),
                None => d.into_iter().map(|x| x as usize).collect(),
            }
        };
        let k = sp("kernel_size", vec![1, 1]);
        let stride = sp("stride", k.iter().map(|&x| x as i64).collect());
        let pad = sp("padding", vec![0, 0]);
        let dil = if op == Op::MaxPool2d {
            sp("dilation", vec![1, 1])
        } else {
            vec![1, 1]
        };
        let rank = xs.len();
        let (h, wd) = (xs[rank - 2], xs[rank - 1]);
        let planes = numel(&xs[..rank - 2]);
        let (oh, ow) = (out_shape[rank - 2], out_shape[rank - 1]);
        let include_pad = attrs.bool("count_include_pad", true);
        let mut windows = Vec::with_capacity(planes * oh * ow);
        let mut divisors = Vec::with_capacity(planes * oh * ow);
        for p in 0..planes {
            for y in 0..oh {
                for x in 0..ow {
                    let mut win = Vec::new();
                    let y0 = (y * stride[0]) as isize - pad[0] as isize;
                    let x0 = (x * stride[1]) as isize - pad[1] as isize;
                    // PyTorch's avg divisor with padding: the window clipped to the padded input.
                    let y1 = (y0 + k[0] as isize).min((h + pad[0]) as isize);
                    let x1 = (x0 + k[1] as isize).min((wd + pad[1]) as isize);
                    let padded_count = ((y1 - y0) * (x1 - x0)) as usize;
                    for ky in 0..k[0] {
                        let iy = y0 + (ky * dil[0]) as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..k[1] {
                            let ix = x0 + (kx * dil[1]) as isize;
                            if ix < 0 || ix >= wd as isize {
                                continue;
                            }
                            win.push((p * h + iy as usize) * wd + ix as usize);
                        }
                    }
                    if win.is_empty() {
                        return Err(unsupported(
                            &name,
                            "a pooling window lies entirely in padding",
                        ));
                    }
                    divisors.push(if include_pad { padded_count } else { win.len() });
                    windows.push(win);
                }
            }
        }
        if op == Op::MaxPool2d {
            return self.push(Layer::MaxPool { src, windows }, id, out_shape);
        }
        let out_n = windows.len();
        let mut m = self.dense(&name, out_n, numel(xs))?;
        for (r, (win, d)) in windows.iter().zip(&divisors).enumerate() {
            let coef = 1.0 / *d as f64;
            for &c in win {
                m[[r, c]] += coef;
            }
        }
        self.push(
            Layer::affine(src, m, Array1::zeros(out_n), 1),
            id,
            out_shape,
        )
    }
}

/// Helpers for the Transformer ops: broadcasting, products of two tensors, reductions, layer
/// norm and attention, each lowered to layers with known relaxations.
impl Lowerer<'_> {
    /// A layer with its own name (`node.part`): one step of an op lowered to several layers.
    fn push_part(
        &mut self,
        layer: Layer,
        id: usize,
        part: &str,
        shape: Vec<usize>,
    ) -> Result<usize> {
        let size = numel(&shape);
        self.nodes.push(NetNode {
            layer,
            size,
            name: format!("{}.{part}", self.graph.nodes[id].name),
            shape,
        });
        Ok(self.nodes.len() - 1)
    }

    /// `src` (of `shape`) broadcast to `out` by a gather (none when the shapes agree).
    fn broadcast_var(
        &mut self,
        id: usize,
        part: &str,
        src: usize,
        shape: &[usize],
        out: &[usize],
    ) -> Result<usize> {
        if shape == out {
            return Ok(src);
        }
        let name = self.graph.nodes[id].name.clone();
        if shape.len() > out.len() {
            return Err(unsupported(
                &name,
                format!("{shape:?} does not broadcast to {out:?}"),
            ));
        }
        let off = out.len() - shape.len();
        for (k, &d) in shape.iter().enumerate() {
            if d != 1 && d != out[off + k] {
                return Err(unsupported(
                    &name,
                    format!("{shape:?} does not broadcast to {out:?}"),
                ));
            }
        }
        let strides = row_major_strides(shape);
        let index = (0..numel(out))
            .map(|flat| {
                let idx = unravel(flat, out);
                shape
                    .iter()
                    .enumerate()
                    .map(|(k, &d)| if d == 1 { 0 } else { idx[off + k] * strides[k] })
                    .sum()
            })
            .collect();
        self.push_part(
            Layer::Gather { src, index },
            id,
            &format!("broadcast_{part}"),
            out.to_vec(),
        )
    }

    /// `a @ b` (or `a @ b^T`) of two input-dependent tensors of rank >= 2: the `k` products of
    /// every output element gathered side by side, multiplied elementwise (McCormick), then
    /// summed by a 0/1 affine layer.
    fn matmul_vars(
        &mut self,
        id: usize,
        (a, sa): (usize, &[usize]),
        (b, sb): (usize, &[usize]),
        transpose_b: bool,
        out_shape: Vec<usize>,
    ) -> Result<Val> {
        let name = self.graph.nodes[id].name.clone();
        if sa.len() < 2 || sb.len() < 2 || out_shape.len() < 2 {
            return Err(unsupported(
                &name,
                "a product of two input-dependent tensors needs both of rank >= 2",
            ));
        }
        let (n, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (kb, m) = if transpose_b {
            (sb[sb.len() - 1], sb[sb.len() - 2])
        } else {
            (sb[sb.len() - 2], sb[sb.len() - 1])
        };
        let r = out_shape.len();
        if kb != k || out_shape[r - 2] != n || out_shape[r - 1] != m {
            return Err(unsupported(
                &name,
                format!("matmul of {sa:?} and {sb:?} does not give {out_shape:?}"),
            ));
        }
        let batch = &out_shape[..r - 2];
        // Flat index of element (batch idx, row, col) of an operand, broadcasting its batch axes.
        let flat_of = |shape: &[usize], bidx: &[usize], row: usize, col: usize| -> usize {
            let strides = row_major_strides(shape);
            let rk = shape.len();
            let off = batch.len() + 2 - rk;
            let mut f = row * strides[rk - 2] + col * strides[rk - 1];
            for d in 0..rk - 2 {
                let i = bidx[off + d];
                f += if shape[d] == 1 { 0 } else { i * strides[d] };
            }
            f
        };
        for (shape, what) in [(sa, "a"), (sb, "b")] {
            let rk = shape.len();
            if rk - 2 > batch.len() {
                return Err(unsupported(
                    &name,
                    format!("operand {what} has more batch axes than the output"),
                ));
            }
            let off = batch.len() + 2 - rk;
            if (0..rk - 2).any(|d| shape[d] != 1 && shape[d] != batch[off + d]) {
                return Err(unsupported(
                    &name,
                    format!("operand {what} {shape:?} does not broadcast to {out_shape:?}"),
                ));
            }
        }
        let out_n = numel(&out_shape);
        let mut ia = Vec::with_capacity(out_n * k);
        let mut ib = Vec::with_capacity(out_n * k);
        for flat in 0..out_n {
            let idx = unravel(flat, &out_shape);
            let (i, j) = (idx[r - 2], idx[r - 1]);
            for t in 0..k {
                ia.push(flat_of(sa, &idx, i, t));
                ib.push(if transpose_b {
                    flat_of(sb, &idx, j, t)
                } else {
                    flat_of(sb, &idx, t, j)
                });
            }
        }
        let mut w = self.dense(&name, out_n, out_n * k)?;
        for row in 0..out_n {
            for t in 0..k {
                w[[row, row * k + t]] = 1.0;
            }
        }
        let pshape = vec![out_n * k];
        let ga = self.push_part(
            Layer::Gather { src: a, index: ia },
            id,
            "lhs",
            pshape.clone(),
        )?;
        let gb = self.push_part(
            Layer::Gather { src: b, index: ib },
            id,
            "rhs",
            pshape.clone(),
        )?;
        let prod = self.push_part(Layer::Mul { a: ga, b: gb }, id, "products", pshape)?;
        self.push(
            Layer::affine(prod, w, Array1::zeros(out_n), 0),
            id,
            out_shape,
        )
    }

    /// Sum or mean over `axes` as one affine layer.
    fn reduce(
        &mut self,
        id: usize,
        mean: bool,
        attrs: &Attrs,
        src: usize,
        xs: &[usize],
        out_shape: Vec<usize>,
    ) -> Result<Val> {
        let name = self.graph.nodes[id].name.clone();
        let (rows, count) = reduction_rows(&name, attrs, xs, &out_shape)?;
        let coef = if mean { 1.0 / count.max(1) as f64 } else { 1.0 };
        let out_n = numel(&out_shape);
        let mut w = self.dense(&name, out_n, numel(xs))?;
        for (flat, &row) in rows.iter().enumerate() {
            w[[row, flat]] = coef;
        }
        let ulps = u32::from(mean && !count.is_power_of_two());
        self.push(
            Layer::affine(src, w, Array1::zeros(out_n), ulps),
            id,
            out_shape,
        )
    }

    /// The maximum over `axes` (all when absent): one max window per output element, the
    /// elements it reduces (the same layer a max pool lowers to).
    fn reduce_max(
        &mut self,
        id: usize,
        attrs: &Attrs,
        src: usize,
        xs: &[usize],
        out_shape: Vec<usize>,
    ) -> Result<Val> {
        let name = self.graph.nodes[id].name.clone();
        let (rows, count) = reduction_rows(&name, attrs, xs, &out_shape)?;
        if count == 0 {
            return Err(unsupported(&name, "max over an empty axis"));
        }
        let mut windows = vec![Vec::new(); numel(&out_shape)];
        for (flat, &row) in rows.iter().enumerate() {
            windows[row].push(flat);
        }
        self.push(Layer::MaxPool { src, windows }, id, out_shape)
    }

    /// `(x - mean) / sqrt(var + eps) * w + b` over the trailing `D` elements, in the order of
    /// tl's kernel (cpu/norm.rs): centering (affine), square, mean + eps (affine), rsqrt, a
    /// product with the broadcast rsqrt, then the scale and shift.
    fn layer_norm(
        &mut self,
        id: usize,
        attrs: &Attrs,
        src: usize,
        xs: &[usize],
        consts: &[&ArrayD<f64>],
        out_shape: Vec<usize>,
    ) -> Result<Val> {
        let name = self.graph.nodes[id].name.clone();
        let d: usize = match (attrs.ints("normalized_shape"), consts.first()) {
            (Some(ns), _) => ns.iter().map(|&v| v.max(0) as usize).product(),
            (None, Some(w)) => w.len(),
            (None, None) => *xs.last().unwrap_or(&1),
        };
        let n = numel(xs);
        if d == 0 || !n.is_multiple_of(d) || out_shape != xs {
            return Err(unsupported(
                &name,
                format!("layer_norm over {d} trailing elements of {xs:?}"),
            ));
        }
        let eps = attrs.float("eps", 1e-5);
        if !eps.is_finite() || eps < 0.0 {
            return Err(BoundsError::new(
                codes::NON_FINITE,
                format!("{name}: eps {eps} is not a finite non-negative number"),
            ));
        }
        let groups = n / d;
        let inv = 1.0 / d as f64;
        let mut wc = self.dense(&name, n, n)?;
        for g in 0..groups {
            for i in 0..d {
                for j in 0..d {
                    wc[[g * d + i, g * d + j]] = if i == j { 1.0 - inv } else { -inv };
                }
            }
        }
        let ulps = u32::from(!d.is_power_of_two());
        let centered = self.push_part(
            Layer::affine(src, wc, Array1::zeros(n), ulps.max(1)),
            id,
            "centered",
            xs.to_vec(),
        )?;
        let sq = self.push_part(
            Layer::Unary {
                src: centered,
                f: UnaryFn::Square,
            },
            id,
            "squared",
            xs.to_vec(),
        )?;
        let mut wv = self.dense(&name, groups, n)?;
        for g in 0..groups {
            for j in 0..d {
                wv[[g, g * d + j]] = inv;
            }
        }
        let var = self.push_part(
            Layer::affine(sq, wv, Array1::from_elem(groups, eps), ulps),
            id,
            "var_eps",
            vec![groups],
        )?;
        let rs = self.push_part(
            Layer::Unary {
                src: var,
                f: UnaryFn::Rsqrt,
            },
            id,
            "rsqrt",
            vec![groups],
        )?;
        let index = (0..n).map(|j| j / d).collect();
        let rb = self.push_part(Layer::Gather { src: rs, index }, id, "rsqrt_b", xs.to_vec())?;
        let weight = consts.first();
        let bias = consts.get(1);
        if weight.is_none() && bias.is_none() {
            return self.push(Layer::Mul { a: centered, b: rb }, id, out_shape);
        }
        let z = self.push_part(
            Layer::Mul { a: centered, b: rb },
            id,
            "normalized",
            xs.to_vec(),
        )?;
        let scale = match weight {
            Some(w) => broadcast_flat(&name, w, xs)?,
            None => Array1::ones(n),
        };
        let shift = match bias {
            Some(b) => broadcast_flat(&name, b, xs)?,
            None => Array1::zeros(n),
        };
        self.push(
            Layer::Scale {
                src: z,
                scale,
                shift,
                coef_ulps: 0,
                shift_err: Array1::zeros(n),
                f32_fold_terms: Array1::zeros(n),
            },
            id,
            out_shape,
        )
    }

    /// `softmax(scale q k^T)` and, for scaled_dot_product_attention, `@ v`; a causal mask leaves
    /// the future positions out of every softmax group (exactly 0); mask tensors are refused.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &mut self,
        id: usize,
        op: Op,
        attrs: &Attrs,
        q: &Val,
        k: &Val,
        rest: &[&Val],
        out_shape: Vec<usize>,
    ) -> Result<Val> {
        let name = self.graph.nodes[id].name.clone();
        let with_v = op == Op::ScaledDotProductAttention;
        let n_extra = usize::from(with_v);
        if rest.len() > n_extra {
            return Err(unsupported(&name, "attention with a mask tensor"));
        }
        let causal = attrs.bool("causal", false);
        let (Val::Var(qi, qs), Val::Var(ki, ks)) = (q, k) else {
            return Err(unsupported(
                &name,
                "attention needs input-dependent q and k",
            ));
        };
        let e = *qs.last().unwrap_or(&1);
        let scale = attrs.float("scale", 1.0 / (e as f64).sqrt());
        let r = qs.len();
        let mut sshape = qs[..r - 1].to_vec();
        sshape.push(ks[ks.len() - 2]);
        let Val::Var(scores, _) =
            self.matmul_vars(id, (*qi, qs), (*ki, ks), true, sshape.clone())?
        else {
            unreachable!("matmul_vars pushes a layer")
        };
        let sn = numel(&sshape);
        let scaled = self.push_part(
            Layer::Scale {
                src: scores,
                scale: Array1::from_elem(sn, scale),
                shift: Array1::zeros(sn),
                coef_ulps: 1,
                shift_err: Array1::zeros(sn),
                f32_fold_terms: Array1::zeros(sn),
            },
            id,
            "scaled",
            sshape.clone(),
        )?;
        let mut groups = lanes(&sshape, sshape.len() - 1);
        if causal {
            // Hard mask: position j > i is exactly 0 (in no group), the rest a softmax.
            let rank = sshape.len();
            for g in &mut groups {
                let i = unravel(g[0], &sshape)[rank - 2];
                g.truncate(i + 1);
            }
        }
        if !with_v {
            return self.push(
                Layer::Softmax {
                    src: scaled,
                    groups,
                },
                id,
                out_shape,
            );
        }
        let p = self.push_part(
            Layer::Softmax {
                src: scaled,
                groups,
            },
            id,
            "weights",
            sshape.clone(),
        )?;
        match rest[0] {
            Val::Var(vi, vs) => self.matmul_vars(id, (p, &sshape), (*vi, vs), false, out_shape),
            Val::Const(_) => Err(unsupported(&name, "attention with constant values")),
        }
    }
}

fn norm_axis(name: &str, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) {
        Ok(v as usize)
    } else {
        Err(unsupported(
            name,
            format!("axis {a} out of range for rank {rank}"),
        ))
    }
}

/// The groups of flat positions along `axis` (softmax lanes).
fn lanes(shape: &[usize], axis: usize) -> Vec<Vec<usize>> {
    let strides = row_major_strides(shape);
    let len = shape[axis];
    let n = numel(shape);
    (0..n)
        .filter(|&f| unravel(f, shape)[axis] == 0)
        .map(|f| (0..len).map(|t| f + t * strides[axis]).collect())
        .collect()
}

/// `pad`'s element map: per output element (row-major), the flat input element it copies, or
/// `None` for constant mode's fill; and the fill value. One index walk per axis, the kernel's own
/// (`tl_kernels::cpu::pad::pad_axis_map`), so every mode agrees with the executors.
fn pad_index(
    name: &str,
    attrs: &Attrs,
    xs: &[usize],
    out_shape: &[usize],
) -> Result<(Vec<Option<usize>>, f64)> {
    use tl_kernels::cpu::pad::{pad_axis_map, PadMode};
    let rank = xs.len();
    let mode_name = attrs.str("mode", "constant");
    let mode = PadMode::from_name(mode_name).ok_or_else(|| {
        unsupported(
            name,
            format!("pad mode {mode_name:?} (the verifier bounds constant, reflect and edge)"),
        )
    })?;
    let pads = attrs
        .ints("pads")
        .filter(|p| p.len() == 2 * rank && p.iter().all(|&v| v >= 0))
        .ok_or_else(|| unsupported(name, format!("pad needs 2 x {rank} non-negative pads")))?;
    let value = attrs.float("value", 0.0);
    if !value.is_finite() {
        return Err(BoundsError::new(
            codes::NON_FINITE,
            format!("{name}: pad value {value} is not finite"),
        ));
    }
    let maps = (0..rank)
        .map(|i| pad_axis_map(mode, xs[i], pads[i] as usize, pads[rank + i] as usize))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unsupported(name, e.to_string()))?;
    let shape: Vec<usize> = maps.iter().map(Vec::len).collect();
    if shape != out_shape {
        return Err(unsupported(
            name,
            format!("pad of {xs:?} gives {shape:?}, the graph declares {out_shape:?}"),
        ));
    }
    let strides = row_major_strides(xs);
    let index = (0..numel(out_shape))
        .map(|flat| {
            let idx = unravel(flat, out_shape);
            (0..rank).try_fold(0, |k, ax| maps[ax][idx[ax]].map(|s| k + s * strides[ax]))
        })
        .collect();
    Ok((index, value))
}

fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = flat % shape[i].max(1);
        flat /= shape[i].max(1);
    }
    idx
}
