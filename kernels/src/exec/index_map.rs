//! The index-map check: validates the compiled kernel of a data-movement node (slice, concat,
//! pad, ...: [`tl_ir::Op::is_index_map`]) against the reference evaluator by running both once.
//!
//! Such an op's output element `j` is input element `s(j)` (or the constant fill) for a map `s`
//! fixed by the shapes and attributes. Feed every operand element a different value, exactly
//! representable in f32 and different from the fill: the output then names, element by
//! element, where it was read from, so one run reveals `s` completely. If the compiled plan's
//! output equals the reference's bit for bit, the two maps are the same, and so the kernel
//! computes the reference on every input, on the premise that the kernel's positions do not
//! depend on the values (tl's data-movement kernels have no value-dependent branch). The node
//! is compiled alone, with its shapes and attributes, not inside the whole graph's plan.

use std::collections::BTreeMap;

use tl_ir::{DType, Graph, NodeId, NodeKind};

use super::{compile, denote};
use crate::tensor::Tensor;

/// Largest count of distinct values f32 represents exactly from 1 on (2^24).
const EXACT_F32: f64 = 16_777_216.0;

/// What the check established for one node: the number of output elements whose source it
/// confirmed.
pub fn check_index_map(graph: &Graph, id: NodeId) -> Result<usize, String> {
    let node = &graph.nodes[id];
    let NodeKind::Op { op, attrs } = &node.kind else {
        return Err("not an op node".into());
    };
    if !op.is_index_map(attrs) {
        return Err(format!("{} does not only move data", op.name()));
    }
    if !matches!(node.dtype, DType::F32 | DType::F64) {
        return Err(format!(
            "a {} tensor (the check runs on float values)",
            node.dtype
        ));
    }
    let concrete = |id: NodeId| -> Result<Vec<usize>, String> {
        graph.nodes[id]
            .shape
            .0
            .iter()
            .map(|d| d.known().map(|n| n as usize))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| {
                format!(
                    "symbolic extents in {} (the check runs at concrete shapes)",
                    graph.nodes[id].shape
                )
            })
    };
    concrete(id)?;
    // The fill a pad (or trilu's zeros) writes must differ from every operand value.
    let fill = if op.info().attr("value").is_some() {
        attrs.float_or_default(*op, "value")
    } else {
        0.0
    };
    let start = if (1.0..EXACT_F32).contains(&fill) {
        fill.floor() + 2.0
    } else {
        1.0
    };
    let mut mini = Graph::new(format!("index_map_{}", node.name));
    let mut inputs = BTreeMap::new();
    let mut next = start;
    let mut parents = Vec::new();
    for (k, &p) in node.parents.iter().enumerate() {
        let shape = concrete(p)?;
        let name = format!("operand{k}");
        parents.push(mini.add_input(name.clone(), graph.nodes[p].shape.clone(), DType::F32));
        let n: usize = shape.iter().product();
        if next + n as f64 >= EXACT_F32 {
            return Err(format!(
                "{} operand elements: more than f32 numbers apart exactly",
                next as usize + n
            ));
        }
        let data: Vec<f32> = (0..n).map(|i| (next + i as f64) as f32).collect();
        next += n as f64;
        let t = Tensor::from_f32(&shape, data).map_err(|e| e.to_string())?;
        inputs.insert(name, t);
    }
    let out = mini
        .add_op(node.name.clone(), *op, parents, attrs.clone())
        .map_err(|e| format!("the node alone does not build: {}", e.message))?;
    mini.add_output(node.name.clone(), out);
    let payload: BTreeMap<String, Tensor> = BTreeMap::new();
    let reference = denote(&mini, &payload, &inputs).map_err(|e| format!("reference: {e}"))?;
    let plan = compile(&mini, &payload).map_err(|e| format!("compile: {e}"))?;
    let compiled = plan.run(&inputs).map_err(|e| format!("compiled: {e}"))?;
    let want = reference
        .output(&node.name)
        .ok_or("the reference returned no output")?
        .to_f64();
    let got = compiled
        .get(&node.name)
        .ok_or("the plan returned no output")?
        .to_f64();
    if want.shape() != got.shape() {
        return Err(format!(
            "the compiled output has shape {:?}, the reference {:?}",
            got.shape(),
            want.shape()
        ));
    }
    for (j, (w, g)) in want.iter().zip(got.iter()).enumerate() {
        if w.to_bits() != g.to_bits() {
            return Err(format!(
                "output element {j}: the compiled kernel wrote {g}, the reference {w} (each operand element holds a distinct value, so they read different positions)"
            ));
        }
    }
    Ok(want.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ir::{AttrValue, Attrs, Op, Shape};

    fn graph_with(op: Op, shapes: &[&[u64]], attrs: Attrs) -> (Graph, NodeId) {
        let mut g = Graph::new("g");
        let parents: Vec<NodeId> = shapes
            .iter()
            .enumerate()
            .map(|(k, s)| g.add_input(format!("x{k}"), Shape::known(s), DType::F32))
            .collect();
        let id = g.add_op("y", op, parents, attrs).unwrap();
        g.add_output("y", id);
        (g, id)
    }

    #[test]
    fn data_movement_kernels_match_the_reference_position_by_position() {
        let a = Attrs::new().with("axis", AttrValue::Int(0));
        let (g, id) = graph_with(Op::Concat, &[&[4, 3], &[1, 3]], a);
        assert_eq!(check_index_map(&g, id), Ok(15));

        let a = Attrs::new()
            .with("pads", AttrValue::Ints(vec![1, 0, 2, 1]))
            .with("value", AttrValue::Float(3.0));
        let (g, id) = graph_with(Op::Pad, &[&[2, 3]], a);
        assert_eq!(check_index_map(&g, id), Ok(20));

        let (g, id) = graph_with(Op::Trilu, &[&[3, 3]], Attrs::new());
        assert_eq!(check_index_map(&g, id), Ok(9));
    }

    #[test]
    fn arithmetic_ops_and_symbolic_shapes_are_not_checked() {
        let (g, id) = graph_with(Op::Add, &[&[2], &[2]], Attrs::new());
        assert!(check_index_map(&g, id)
            .unwrap_err()
            .contains("does not only move data"));
        let mut g = Graph::new("g");
        let x = g.add_input(
            "x",
            Shape(vec![tl_ir::Dim::Sym("B".into()), tl_ir::Dim::Known(3)]),
            DType::F32,
        );
        let id = g.add_op("y", Op::Identity, vec![x], Attrs::new()).unwrap();
        assert!(check_index_map(&g, id).unwrap_err().contains("symbolic"));
    }
}
