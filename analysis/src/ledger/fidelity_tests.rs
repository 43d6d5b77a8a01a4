//! Catalog fidelity (issue 14): each entry that cited the wrong TorchLean theorem, or granted more
//! than its hypotheses allow, gives the honest status now. Every test names the status the old
//! catalog gave.

use tl_ir::{AttrValue, Attrs, DType, Dim, Graph, NodeId, Op, Shape};

use super::checks::{is_graph_level, run_graph_check, run_node_check, CheckOutcome, GraphFacts};
use super::coverage::{cover_graph, GraphCoverage, NodeLayer};
use crate::catalog::{Catalog, Check, SideCondition, Status};

fn facts() -> GraphFacts {
    GraphFacts {
        structural: Ok(()),
        compiles: Ok(()),
    }
}

fn answer<'a>(cov: &'a GraphCoverage, node: &str, layer: &str) -> &'a NodeLayer {
    cov.nodes
        .iter()
        .find(|n| n.node == node)
        .unwrap_or_else(|| panic!("no node {node}"))
        .layers
        .iter()
        .find(|l| l.layer == layer)
        .unwrap_or_else(|| panic!("no layer {layer}"))
}

fn unary(op: Op, shape: &[u64], attrs: Attrs) -> (Graph, &'static str) {
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(shape), DType::F32);
    let y = g.add_op("y", op, vec![x], attrs).unwrap();
    g.add_output("y", y);
    (g, "y")
}

#[test]
fn softmax_float_tolerance_cites_the_axis_theorem_and_assumes_its_denominator_certificate() {
    // Before: `approxT_softmax_spec` (the elementwise logistic sigmoid) was cited for softmax.
    let (g, y) = unary(Op::Softmax, &[4, 10], Attrs::new());
    let cov = cover_graph("g".into(), "test", &g, &facts());
    let a = answer(&cov, y, "float_approximation");
    assert_eq!(a.status, Status::Assumed, "{a:?}");
    assert_eq!(
        a.entries,
        ["Proofs.RuntimeApprox.AxisSoftmax.approxTensor_softmaxRowsSpec"]
    );
    assert!(a
        .assumptions
        .iter()
        .any(|s| s.ends_with("#denominator_error_below_one")));
    // A rank-3 softmax is outside both axis theorems (vector [n], matrix rows [m, n]).
    let (g, y) = unary(Op::Softmax, &[2, 4, 10], Attrs::new());
    let cov = cover_graph("g".into(), "test", &g, &facts());
    assert_eq!(
        answer(&cov, y, "float_approximation").status,
        Status::Uncovered
    );
    // Softmax over the first axis of a matrix is not the rows theorem.
    let (g, y) = unary(
        Op::Softmax,
        &[4, 10],
        Attrs::new().with("axis", AttrValue::Int(0)),
    );
    let cov = cover_graph("g".into(), "test", &g, &facts());
    assert_eq!(
        answer(&cov, y, "float_approximation").status,
        Status::Uncovered
    );
}

#[test]
fn sigmoid_gets_the_logistic_bound() {
    // Before: uncovered in float_approximation.
    let (g, y) = unary(Op::Sigmoid, &[4, 10], Attrs::new());
    let cov = cover_graph("g".into(), "test", &g, &facts());
    let a = answer(&cov, y, "float_approximation");
    assert_eq!(a.status, Status::Proved, "{a:?}");
    assert_eq!(
        a.entries,
        ["Proofs.RuntimeApprox.NFBackend.approxTensor_softmax_spec"]
    );
}

fn sdpa(shape: &[u64]) -> (Graph, &'static str) {
    let mut g = Graph::new("g");
    let q = g.add_input("q", Shape::known(shape), DType::F32);
    let y = g
        .add_op(
            "y",
            Op::ScaledDotProductAttention,
            vec![q, q, q],
            Attrs::new(),
        )
        .unwrap();
    g.add_output("y", y);
    (g, "y")
}

#[test]
fn sdpa_gradient_theorem_is_for_unbatched_qkv_only() {
    // Before: proved for any rank.
    let (g, y) = sdpa(&[2, 6, 8]);
    let cov = cover_graph("g".into(), "test", &g, &facts());
    let a = answer(&cov, y, "autograd");
    assert_eq!(a.status, Status::Uncovered, "{a:?}");
    assert!(a.reason.as_deref().unwrap_or("").contains("unbatched_qkv"));
    let (g, y) = sdpa(&[6, 8]);
    let cov = cover_graph("g".into(), "test", &g, &facts());
    assert_eq!(answer(&cov, y, "autograd").status, Status::Proved);
}

#[test]
fn compiled_semantics_matmul_is_rank_2_layer_norm_is_assumed_log_is_excluded() {
    let mut g = Graph::new("g");
    let a = g.add_input("a", Shape::known(&[2, 3, 4]), DType::F32);
    let b = g.add_param("b", Shape::known(&[2, 4, 5]), DType::F32);
    let m = g.add_op("m", Op::Matmul, vec![a, b], Attrs::new()).unwrap();
    let ln = g
        .add_op("ln", Op::LayerNorm, vec![m], Attrs::new())
        .unwrap();
    let lg = g.add_op("lg", Op::Log, vec![ln], Attrs::new()).unwrap();
    g.add_output("y", lg);
    let cov = cover_graph("g".into(), "test", &g, &facts());
    // Before: all three proved.
    assert_eq!(
        answer(&cov, "m", "compiled_semantics").status,
        Status::Uncovered
    );
    let ln = answer(&cov, "ln", "compiled_semantics");
    assert_eq!(ln.status, Status::Assumed, "{ln:?}");
    assert!(ln.assumptions[0].ends_with("#layer_norm_as_lowered"));
    let lg = answer(&cov, "lg", "compiled_semantics");
    assert_eq!(lg.status, Status::Uncovered);
    assert!(lg.reason.as_deref().unwrap_or("").contains("NoRawLog"));
}

#[test]
fn conv2d_float_bound_is_per_image_with_one_stride() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(&[2, 1, 8, 8]), DType::F32);
    let w = g.add_param("w", Shape::known(&[2, 1, 3, 3]), DType::F32);
    let c = g.add_op("c", Op::Conv2d, vec![x, w], Attrs::new()).unwrap();
    let s = g
        .add_op(
            "s",
            Op::Conv2d,
            vec![x, w],
            Attrs::new().with("stride", AttrValue::Ints(vec![1, 2])),
        )
        .unwrap();
    g.add_output("c", c);
    g.add_output("s", s);
    let cov = cover_graph("g".into(), "test", &g, &facts());
    // Before: proved for both.
    let plain = answer(&cov, "c", "float_approximation");
    assert_eq!(plain.status, Status::Assumed, "{plain:?}");
    assert!(plain.assumptions.iter().any(|a| a.ends_with("#per_image")));
    assert_eq!(
        answer(&cov, "s", "float_approximation").status,
        Status::Uncovered
    );
}

#[test]
fn ibp_and_fp32_bridge_rest_on_their_named_assumptions() {
    let mut g = Graph::new("mlp");
    let x = g.add_input(
        "x",
        Shape(vec![Dim::Sym("B".into()), Dim::Known(4)]),
        DType::F32,
    );
    let w1 = g.add_param("w1", Shape::known(&[8, 4]), DType::F32);
    let w2 = g.add_param("w2", Shape::known(&[2, 8]), DType::F32);
    let h: NodeId = g
        .add_op("h", Op::Linear, vec![x, w1], Attrs::new())
        .unwrap();
    let r = g.add_op("r", Op::Relu, vec![h], Attrs::new()).unwrap();
    let y = g
        .add_op("y", Op::Linear, vec![r, w2], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    let cov = cover_graph("mlp".into(), "test", &g, &facts());
    // Before: bound_ibp_sound made every node proved.
    let a = answer(&cov, "h", "bound_propagation");
    assert_eq!(a.status, Status::Assumed, "{a:?}");
    let bridge = Catalog::builtin();
    let bridge = bridge
        .entry("NN.Proofs.RuntimeApprox.FP32.ibpBound_contains_reluMlp2_fp32")
        .unwrap();
    assert!(bridge
        .side_conditions
        .iter()
        .any(|c| c.id == "some_output_budget" && !c.mechanical));
}

#[test]
fn softplus_gradient_assumes_the_threshold_difference() {
    // Before: proved, although tl's softplus is linear above its threshold.
    let (g, y) = unary(Op::Softplus, &[3], Attrs::new());
    let cov = cover_graph("g".into(), "test", &g, &facts());
    let a = answer(&cov, y, "autograd");
    assert_eq!(a.status, Status::Assumed, "{a:?}");
    assert!(a.assumptions[0].ends_with("#softplus_unthresholded"));
}

/// Every check the catalog can name is one the ledger's interpreter decides (holds, fails, or a
/// named undecided reason), never the fallback for a check it does not know.
#[test]
fn the_ledger_interpreter_knows_every_check() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", Shape::known(&[2, 3]), DType::F32);
    let y = g.add_op("y", Op::Relu, vec![x], Attrs::new()).unwrap();
    g.add_output("y", y);
    for check in Check::ALL {
        let cond = SideCondition {
            id: "c".into(),
            description: "d".into(),
            mechanical: true,
            check: Some(check),
            attrs: vec![],
            value: (check == Check::OperandRank).then(|| "2".to_string()),
            ops: vec![],
        };
        let outcome = if is_graph_level(check) {
            run_graph_check(check, &g, &facts())
        } else {
            run_node_check(&cond, &g, y)
        };
        if let CheckOutcome::Undecided(why) = &outcome {
            assert!(
                !why.contains("node-level check") && !why.contains("cannot check"),
                "{}: {why}",
                check.name()
            );
        }
    }
}
