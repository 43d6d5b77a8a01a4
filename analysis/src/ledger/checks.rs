//! The mechanical side-condition checks the catalog names ([`Check`]), run on a lowered IR graph.
//!
//! A check answers *holds*, *fails* (with the reason) or *undecided*: tl cannot decide it here
//! (it needs the contract's input bounds or runtime values), so the result rests on it as a named
//! assumption instead of pretending it was checked.

use tl_ir::{AttrValue, Graph, NodeId, NodeKind, Op};

use crate::catalog::{Check, SideCondition};

/// What running one check produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    Holds,
    Fails(String),
    Undecided(String),
}

/// Whole-graph facts the graph-level checks read; computed once per graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphFacts {
    /// `Err(why)` when the graph does not pass tl's structural checks (analysis or IR validation).
    pub structural: Result<(), String>,
    /// `Err(why)` when the compiled executor refuses the graph and its payload.
    pub compiles: Result<(), String>,
}

/// Checks that are about the whole graph rather than one node.
pub fn is_graph_level(check: Check) -> bool {
    matches!(
        check,
        Check::StructuralChecksPass
            | Check::CompilationSucceeds
            | Check::NoMseLoss
            | Check::AllNodesCovered
            | Check::TwoLayerReluMlp
            | Check::PostNormSublayer
    )
}

/// Runs a graph-level check. `all_nodes_covered` is answered by the coverage pass, not here.
pub fn run_graph_check(check: Check, graph: &Graph, facts: &GraphFacts) -> CheckOutcome {
    match check {
        Check::StructuralChecksPass => match &facts.structural {
            Ok(()) => CheckOutcome::Holds,
            Err(why) => CheckOutcome::Fails(why.clone()),
        },
        Check::CompilationSucceeds => match &facts.compiles {
            Ok(()) => CheckOutcome::Holds,
            Err(why) => CheckOutcome::Fails(why.clone()),
        },
        Check::NoMseLoss => match op_nodes(graph).find(|(_, op)| *op == Op::MseLoss) {
            Some((id, _)) => {
                CheckOutcome::Fails(format!("node `{}` is mse_loss", graph.nodes[id].name))
            }
            None => CheckOutcome::Holds,
        },
        Check::TwoLayerReluMlp => two_layer_relu_mlp(graph),
        Check::PostNormSublayer => post_norm_sublayer(graph),
        Check::AllNodesCovered => CheckOutcome::Undecided("answered from node coverage".into()),
        other => CheckOutcome::Undecided(format!("`{}` is a node-level check", other.name())),
    }
}

/// Runs a node-level check on node `id` (an op node).
pub fn run_node_check(cond: &SideCondition, graph: &Graph, id: NodeId) -> CheckOutcome {
    let node = &graph.nodes[id];
    let NodeKind::Op { op, attrs } = &node.kind else {
        return CheckOutcome::Fails("not an op node".into());
    };
    let Some(check) = cond.check else {
        return CheckOutcome::Undecided(cond.description.clone());
    };
    let attr = |name: &str| attrs.get(name);
    match check {
        Check::OperandsSameShape => {
            let shapes: Vec<_> = node
                .parents
                .iter()
                .map(|&p| &graph.nodes[p].shape)
                .collect();
            if shapes.windows(2).all(|w| w[0] == w[1]) {
                CheckOutcome::Holds
            } else {
                let listed: Vec<String> = shapes.iter().map(|s| s.to_string()).collect();
                CheckOutcome::Fails(format!(
                    "operands have shapes {} (an implicit broadcast)",
                    listed.join(" and ")
                ))
            }
        }
        Check::AttrsAtDefault => all_attrs(cond, |name| {
            let Some(value) = attr(name) else {
                return Ok(());
            };
            match op.info().attr(name).and_then(|spec| spec.default) {
                Some(default) if equals_written(value, default) => Ok(()),
                _ => Err(format!("`{name} = {value}` is not the default")),
            }
        }),
        Check::AttrEquals => {
            let want = cond.value.as_deref().unwrap_or_default();
            all_attrs(cond, |name| {
                let actual = match attr(name) {
                    Some(v) => v.to_string(),
                    None => op
                        .info()
                        .attr(name)
                        .and_then(|s| s.default)
                        .unwrap_or("")
                        .to_string(),
                };
                if unquote(&actual) == want {
                    Ok(())
                } else {
                    Err(format!("`{name}` is {actual}, not \"{want}\""))
                }
            })
        }
        Check::AttrPositive => all_attrs(cond, |name| {
            let value = match attr(name) {
                Some(v) => v.as_f64(),
                None => op
                    .info()
                    .attr(name)
                    .and_then(|s| s.default)
                    .and_then(|d| d.parse::<f64>().ok()),
            };
            match value {
                Some(v) if v > 0.0 => Ok(()),
                Some(v) => Err(format!("`{name}` is {v}, not > 0")),
                None => Err(format!("`{name}` has no numeric value")),
            }
        }),
        Check::UniformSpatialAttrs => all_attrs(cond, |name| match attr(name) {
            None | Some(AttrValue::Int(_)) => Ok(()),
            Some(AttrValue::Ints(v)) if v.windows(2).all(|w| w[0] == w[1]) => Ok(()),
            Some(v) => Err(format!("`{name} = {v}` differs between spatial axes")),
        }),
        Check::SingleReductionAxis => {
            let rank = node
                .parents
                .first()
                .map(|&p| graph.nodes[p].shape.rank())
                .unwrap_or(0);
            match attr("axes").and_then(AttrValue::as_ints) {
                Some(axes) if axes.len() == 1 => CheckOutcome::Holds,
                None if *op == Op::Sum || rank <= 1 => CheckOutcome::Holds,
                None => CheckOutcome::Fails(format!("reduces all {rank} axes")),
                Some(axes) => CheckOutcome::Fails(format!("reduces {} axes", axes.len())),
            }
        }
        Check::LastAxis => {
            let rank = node
                .parents
                .first()
                .map(|&p| graph.nodes[p].shape.rank() as i64)
                .unwrap_or(0);
            let axis = attr("axis").and_then(AttrValue::as_i64).unwrap_or(-1);
            if axis == -1 || axis == rank - 1 {
                CheckOutcome::Holds
            } else {
                CheckOutcome::Fails(format!("acts on axis {axis}, not the last one"))
            }
        }
        Check::AttentionUnmasked => {
            let causal = attr("causal").and_then(AttrValue::as_bool).unwrap_or(false);
            let masked = node.parents.len() > mask_index(*op);
            match (causal, masked) {
                (false, false) => CheckOutcome::Holds,
                (true, _) => CheckOutcome::Fails("attention is causal".into()),
                (_, true) => CheckOutcome::Fails("attention takes a mask".into()),
            }
        }
        Check::CausalOrHardMask => {
            let causal = attr("causal").and_then(AttrValue::as_bool).unwrap_or(false);
            if causal || node.parents.len() > mask_index(*op) {
                CheckOutcome::Holds
            } else {
                CheckOutcome::Fails("attention has neither `causal = true` nor a mask".into())
            }
        }
        Check::OperandRank => {
            let want = cond.value.as_deref().and_then(|v| v.parse::<usize>().ok());
            let ranks: Vec<usize> = node
                .parents
                .iter()
                .map(|&p| graph.nodes[p].shape.rank())
                .collect();
            match want {
                Some(r) if ranks.iter().all(|&k| k == r) => CheckOutcome::Holds,
                Some(r) => CheckOutcome::Fails(format!(
                    "operand ranks are {ranks:?}; the result is stated for rank {r}"
                )),
                None => CheckOutcome::Fails("operand_rank without a rank".into()),
            }
        }
        Check::BroadcastAsBroadcastTo => {
            let out = &node.shape;
            for &p in &node.parents {
                let shape = &graph.nodes[p].shape;
                if shape == out {
                    continue;
                }
                match shape.broadcast_alignments(out) {
                    0 => {
                        return CheckOutcome::Fails(format!(
                            "operand shape {shape} does not broadcast to {out}"
                        ))
                    }
                    1 => {}
                    n => {
                        return CheckOutcome::Undecided(format!(
                            "operand shape {shape} aligns with {out} in {n} ways; numpy reads the right-aligned one, and a TorchLean broadcastTo witness may pick another"
                        ))
                    }
                }
            }
            CheckOutcome::Holds
        }
        Check::MatmulRowsAsRank2 => {
            let ranks: Vec<usize> = node
                .parents
                .iter()
                .map(|&p| graph.nodes[p].shape.rank())
                .collect();
            match ranks.as_slice() {
                [a, 2] if *a >= 2 => CheckOutcome::Holds,
                _ => CheckOutcome::Fails(format!(
                    "operand ranks are {ranks:?}; the result is stated for a rank-2 right operand (a rank-2 matmul, or rows of a batched left operand)"
                )),
            }
        }
        // tl's batch_norm always reads running statistics and its dropout is the identity.
        Check::EvalMode => CheckOutcome::Holds,
        Check::DomainPositive => CheckOutcome::Undecided(
            "needs bounds on the contract's input set; the ledger does not compute them".into(),
        ),
        Check::IndicesInRange => {
            CheckOutcome::Undecided("index values are only known at run time".into())
        }
        graph_level => run_graph_check(
            graph_level,
            graph,
            &GraphFacts {
                structural: Ok(()),
                compiles: Ok(()),
            },
        ),
    }
}

/// Op nodes with their ops, in graph order.
pub fn op_nodes(graph: &Graph) -> impl Iterator<Item = (NodeId, Op)> + '_ {
    graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.kind {
            NodeKind::Op { op, .. } => Some((i, *op)),
            _ => None,
        })
}

/// The index of the optional mask operand.
fn mask_index(op: Op) -> usize {
    if op == Op::ScaledDotProductAttention {
        3
    } else {
        2
    }
}

fn all_attrs(cond: &SideCondition, each: impl Fn(&str) -> Result<(), String>) -> CheckOutcome {
    let failures: Vec<String> = cond.attrs.iter().filter_map(|a| each(a).err()).collect();
    if failures.is_empty() {
        CheckOutcome::Holds
    } else {
        CheckOutcome::Fails(failures.join("; "))
    }
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"')
}

/// Whether a value equals a default as the op table writes it (`1`, `false`, `"none"`); a list
/// equals a scalar default when every element does (`stride = [1, 1]` is the default `1`).
fn equals_written(value: &AttrValue, default: &str) -> bool {
    let default = unquote(default);
    match value {
        AttrValue::Ints(v) => default
            .parse::<i64>()
            .is_ok_and(|d| v.iter().all(|&x| x == d)),
        AttrValue::Float(x) => default.parse::<f64>().is_ok_and(|d| d == *x),
        AttrValue::Str(s) => s == default,
        other => other.to_string() == default,
    }
}

/// linear -> relu -> linear, in that order, on a vector (or batch of vectors) input.
fn two_layer_relu_mlp(graph: &Graph) -> CheckOutcome {
    let ops: Vec<Op> = op_nodes(graph).map(|(_, op)| op).collect();
    if ops != [Op::Linear, Op::Relu, Op::Linear] {
        let names: Vec<&str> = ops.iter().map(|o| o.name()).collect();
        return CheckOutcome::Fails(format!(
            "the graph's ops are {}, not linear -> relu -> linear",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(" -> ")
            }
        ));
    }
    let chained = op_nodes(graph)
        .collect::<Vec<_>>()
        .windows(2)
        .all(|w| graph.nodes[w[1].0].parents.first() == Some(&w[0].0));
    let vector_input = graph.inputs.len() == 1 && graph.nodes[graph.inputs[0]].shape.rank() <= 2;
    match (chained, vector_input) {
        (true, true) => CheckOutcome::Holds,
        (false, _) => CheckOutcome::Fails("the three ops do not form one chain".into()),
        (_, false) => CheckOutcome::Fails("the input is not a vector (or batch of vectors)".into()),
    }
}

/// Some `layer_norm(add(a, b))` where one operand of the add is an ancestor of the other: a
/// residual sublayer followed by its norm.
fn post_norm_sublayer(graph: &Graph) -> CheckOutcome {
    let found = op_nodes(graph).any(|(id, op)| {
        op == Op::LayerNorm
            && graph.nodes[id].parents.first().is_some_and(|&sum| {
                matches!(&graph.nodes[sum].kind, NodeKind::Op { op: Op::Add, .. })
                    && match graph.nodes[sum].parents[..] {
                        [a, b] => is_ancestor(graph, a, b) || is_ancestor(graph, b, a),
                        _ => false,
                    }
            })
    });
    if found {
        CheckOutcome::Holds
    } else {
        CheckOutcome::Fails("no layer_norm(x + sublayer(x)) pattern in the graph".into())
    }
}

fn is_ancestor(graph: &Graph, ancestor: NodeId, node: NodeId) -> bool {
    let mut stack = vec![node];
    let mut seen = vec![false; graph.nodes.len()];
    while let Some(n) = stack.pop() {
        if n == ancestor && n != node {
            return true;
        }
        if !std::mem::replace(&mut seen[n], true) {
            stack.extend(graph.nodes[n].parents.iter().copied());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ir::{Attrs, DType, Dim, Shape};

    fn cond(check: Check, attrs: &[&str], value: Option<&str>) -> SideCondition {
        SideCondition {
            id: "c".into(),
            description: "d".into(),
            mechanical: true,
            check: Some(check),
            attrs: attrs.iter().map(|s| s.to_string()).collect(),
            value: value.map(str::to_string),
            ops: vec![],
        }
    }

    #[test]
    fn attribute_checks_read_defaults_from_the_op_table() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", Shape::known(&[1, 1, 8, 8]), DType::F32);
        let w = g.add_param("w", Shape::known(&[2, 1, 3, 3]), DType::F32);
        let plain = g.add_op("c", Op::Conv2d, vec![x, w], Attrs::new()).unwrap();
        let dilated = g
            .add_op(
                "d",
                Op::Conv2d,
                vec![x, w],
                Attrs::new()
                    .with("dilation", AttrValue::Ints(vec![2, 2]))
                    .with("stride", AttrValue::Ints(vec![1, 2])),
            )
            .unwrap();
        let at_default = cond(Check::AttrsAtDefault, &["dilation", "groups"], None);
        assert_eq!(run_node_check(&at_default, &g, plain), CheckOutcome::Holds);
        assert!(matches!(
            run_node_check(&at_default, &g, dilated),
            CheckOutcome::Fails(m) if m.contains("dilation")
        ));
        let uniform = cond(Check::UniformSpatialAttrs, &["stride"], None);
        assert_eq!(run_node_check(&uniform, &g, plain), CheckOutcome::Holds);
        assert!(matches!(
            run_node_check(&uniform, &g, dilated),
            CheckOutcome::Fails(_)
        ));
    }

    #[test]
    fn gelu_form_and_broadcast_checks() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", Shape::known(&[2, 3]), DType::F32);
        let b = g.add_input("b", Shape::known(&[3]), DType::F32);
        let exact = g.add_op("e", Op::Gelu, vec![x], Attrs::new()).unwrap();
        let tanh = g
            .add_op(
                "t",
                Op::Gelu,
                vec![x],
                Attrs::new().with("approximate", AttrValue::Str("tanh".into())),
            )
            .unwrap();
        let tanh_form = cond(Check::AttrEquals, &["approximate"], Some("tanh"));
        assert!(matches!(
            run_node_check(&tanh_form, &g, exact),
            CheckOutcome::Fails(_)
        ));
        assert_eq!(run_node_check(&tanh_form, &g, tanh), CheckOutcome::Holds);
        let broadcast = g.add_op("s", Op::Add, vec![x, b], Attrs::new()).unwrap();
        let same = g.add_op("s2", Op::Add, vec![x, x], Attrs::new()).unwrap();
        let same_shape = cond(Check::OperandsSameShape, &[], None);
        assert!(matches!(
            run_node_check(&same_shape, &g, broadcast),
            CheckOutcome::Fails(_)
        ));
        assert_eq!(run_node_check(&same_shape, &g, same), CheckOutcome::Holds);
        assert!(matches!(
            run_node_check(&cond(Check::DomainPositive, &[], None), &g, same),
            CheckOutcome::Undecided(_)
        ));
    }

    #[test]
    fn graph_shape_checks() {
        let mut g = Graph::new("mlp");
        let x = g.add_input("x", Shape::known(&[1, 4]), DType::F32);
        let w1 = g.add_param("w1", Shape::known(&[8, 4]), DType::F32);
        let w2 = g.add_param("w2", Shape::known(&[2, 8]), DType::F32);
        let h = g
            .add_op("h", Op::Linear, vec![x, w1], Attrs::new())
            .unwrap();
        let a = g.add_op("a", Op::Relu, vec![h], Attrs::new()).unwrap();
        let y = g
            .add_op("y", Op::Linear, vec![a, w2], Attrs::new())
            .unwrap();
        let facts = GraphFacts {
            structural: Ok(()),
            compiles: Ok(()),
        };
        assert_eq!(
            run_graph_check(Check::TwoLayerReluMlp, &g, &facts),
            CheckOutcome::Holds
        );
        assert_eq!(
            run_graph_check(Check::NoMseLoss, &g, &facts),
            CheckOutcome::Holds
        );
        assert!(matches!(
            run_graph_check(Check::PostNormSublayer, &g, &facts),
            CheckOutcome::Fails(_)
        ));
        let t = g.add_input("t", Shape::known(&[1, 2]), DType::F32);
        g.add_op("loss", Op::MseLoss, vec![y, t], Attrs::new())
            .unwrap();
        assert!(matches!(
            run_graph_check(Check::NoMseLoss, &g, &facts),
            CheckOutcome::Fails(m) if m.contains("loss")
        ));
        assert!(matches!(
            run_graph_check(Check::TwoLayerReluMlp, &g, &facts),
            CheckOutcome::Fails(_)
        ));
    }

    fn dims(d: &[u64]) -> Vec<Dim> {
        d.iter().map(|&n| Dim::Known(n)).collect()
    }

    #[test]
    fn a_broadcast_counts_the_alignments_that_differ_in_meaning() {
        // A bias on rows: one alignment (the last axis).
        assert_eq!(
            Shape(dims(&[8])).broadcast_alignments(&Shape(dims(&[1, 3, 8]))),
            1
        );
        // keepdim reductions: the extent-1 axes read one element wherever they go.
        assert_eq!(
            Shape(dims(&[1, 1])).broadcast_alignments(&Shape(dims(&[1, 8]))),
            1
        );
        assert_eq!(
            Shape(dims(&[3, 1])).broadcast_alignments(&Shape(dims(&[3, 3]))),
            1
        );
        // A reduction that dropped its axis, broadcast back over a square: rows or columns.
        assert_eq!(
            Shape(dims(&[3])).broadcast_alignments(&Shape(dims(&[3, 3]))),
            2
        );
        assert_eq!(
            Shape(dims(&[4])).broadcast_alignments(&Shape(dims(&[3, 5]))),
            0
        );
        assert_eq!(Shape(vec![]).broadcast_alignments(&Shape(dims(&[2, 2]))), 1);
        // A symbolic extent may equal the known one at run time.
        let sym = vec![Dim::Sym("B".into()), Dim::Known(8)];
        assert_eq!(Shape(dims(&[8])).broadcast_alignments(&Shape(sym)), 2);
    }

    #[test]
    fn broadcasting_ops_read_as_torchlean_broadcast_to_only_when_unambiguous() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", Shape::known(&[3, 3]), DType::F32);
        let b = g.add_param("b", Shape::known(&[3]), DType::F32);
        let c = g.add_param("c", Shape::known(&[3, 1]), DType::F32);
        let square = g.add_op("s", Op::Add, vec![x, b], Attrs::new()).unwrap();
        let rows = g.add_op("r", Op::Sub, vec![x, c], Attrs::new()).unwrap();
        let cond = cond(Check::BroadcastAsBroadcastTo, &[], None);
        assert!(matches!(
            run_node_check(&cond, &g, square),
            CheckOutcome::Undecided(m) if m.contains("2 ways")
        ));
        assert_eq!(run_node_check(&cond, &g, rows), CheckOutcome::Holds);
    }

    #[test]
    fn batched_matmul_reads_as_rank2_rows_only_with_a_rank2_right_operand() {
        let mut g = Graph::new("g");
        let x = g.add_input("x", Shape::known(&[2, 3, 4]), DType::F32);
        let w = g.add_param("w", Shape::known(&[4, 5]), DType::F32);
        let k = g.add_input("k", Shape::known(&[2, 4, 3]), DType::F32);
        let rows = g.add_op("m", Op::Matmul, vec![x, w], Attrs::new()).unwrap();
        let batched = g.add_op("q", Op::Matmul, vec![x, k], Attrs::new()).unwrap();
        let cond = cond(Check::MatmulRowsAsRank2, &[], None);
        assert_eq!(run_node_check(&cond, &g, rows), CheckOutcome::Holds);
        assert!(matches!(
            run_node_check(&cond, &g, batched),
            CheckOutcome::Fails(_)
        ));
    }
}
