//! The fast schedule (Session, Plan::run) against the generic steps and the reference evaluator.

use super::*;
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use tl_ir::{AttrValue, Attrs, DType as IrDType, Dim, Graph, Op, Shape};

fn fill(shape: &[usize], seed: f64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|i| ((i as f64 + seed) * 0.37).sin() as f32)
        .collect()
}

fn param(g: &mut Graph, p: &mut BTreeMap<String, Tensor>, key: &str, shape: &[usize]) -> usize {
    p.insert(
        key.into(),
        Tensor::from_f32(shape, fill(shape, key.len() as f64)).unwrap(),
    );
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    g.add_param(key, Shape::known(&dims), IrDType::F32)
}

/// x[B, 2, 7, 6] -> conv(3x3, pad 1, stride 2) -> relu -> max_pool 2 -> flatten -> linear ->
/// tanh -> add(bias row, broadcast) -> sigmoid -> y; and avg_pool of x -> z.
fn cnn() -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("cnn");
    let mut p = BTreeMap::new();
    let x = g.add_input(
        "x",
        Shape(vec![
            Dim::Sym("B".into()),
            Dim::Known(2),
            Dim::Known(7),
            Dim::Known(6),
        ]),
        IrDType::F32,
    );
    let w = param(&mut g, &mut p, "conv.weight", &[3, 2, 3, 3]);
    let b = param(&mut g, &mut p, "conv.bias", &[3]);
    let conv_attrs = Attrs::new()
        .with("stride", AttrValue::Int(2))
        .with("padding", AttrValue::Int(1));
    let c = g
        .add_op("c", Op::Conv2d, vec![x, w, b], conv_attrs)
        .unwrap();
    let r = g.add_op("r", Op::Relu, vec![c], Attrs::new()).unwrap();
    let pool = Attrs::new().with("kernel_size", AttrValue::Int(2));
    let m = g.add_op("m", Op::MaxPool2d, vec![r], pool.clone()).unwrap();
    let f = g.add_op("f", Op::Flatten, vec![m], Attrs::new()).unwrap();
    let fw = param(&mut g, &mut p, "fc.weight", &[5, 6]);
    let fb = param(&mut g, &mut p, "fc.bias", &[5]);
    let l = g
        .add_op("l", Op::Linear, vec![f, fw, fb], Attrs::new())
        .unwrap();
    let t = g.add_op("t", Op::Tanh, vec![l], Attrs::new()).unwrap();
    let row = param(&mut g, &mut p, "row", &[5]);
    let a = g.add_op("a", Op::Add, vec![t, row], Attrs::new()).unwrap();
    let y = g.add_op("y", Op::Sigmoid, vec![a], Attrs::new()).unwrap();
    let z = g.add_op("z", Op::AvgPool2d, vec![x], pool).unwrap();
    g.add_output("y", y);
    g.add_output("z", z);
    (g, p)
}

fn named(x: Tensor) -> BTreeMap<String, Tensor> {
    [("x".to_string(), x)].into()
}

fn close(a: &Tensor, b: &Tensor, tol: f64) -> bool {
    a.shape() == b.shape()
        && a.to_f64()
            .iter()
            .zip(b.to_f64().iter())
            .all(|(u, v)| (u - v).abs() <= tol)
}

#[test]
fn fast_schedule_matches_generic_steps_and_reference() {
    let (g, p) = cnn();
    let plan = compile(&g, &p).unwrap();
    let stats = plan.stats();
    assert_eq!(stats.generic_steps, 0, "{stats:?}");
    // conv+relu and linear+tanh fuse into their GEMMs.
    assert_eq!(stats.fused_into_gemm, 2, "{stats:?}");
    let mut session = plan.session();
    for batch in [1usize, 4, 2] {
        let shape = [batch, 2, 7, 6];
        let x = Tensor::from_f32(&shape, fill(&shape, batch as f64)).unwrap();
        session.run(&[&x]).unwrap();
        let generic = plan.run_generic(&named(x.clone())).unwrap();
        let reference = denote(&g, &p, &named(x.clone())).unwrap();
        for name in ["y", "z"] {
            let fast = session.output(name).unwrap();
            assert_eq!(fast.dtype(), crate::DType::F32);
            assert!(close(fast, &generic[name], 1e-5), "{name} b{batch}");
            assert!(close(fast, reference.output(name).unwrap(), 1e-5));
        }
        // Plan::run runs the generic steps for a new shape, then the same fast schedule as
        // the session (through buffers cached in the plan).
        let first = plan.run(&named(x.clone())).unwrap();
        let second = plan.run(&named(x.clone())).unwrap();
        let third = plan.run(&named(x)).unwrap();
        for name in ["y", "z"] {
            assert!(close(&first[name], &generic[name], 0.0));
            assert_eq!(second.get(name), session.output(name));
            assert_eq!(third.get(name), session.output(name));
        }
    }
}

/// x[B, 2, 9, 8] -> conv(pad 1) -> relu -> avg_pool 2 (whole windows: fused into the
/// convolution) -> tanh -> y; conv -> avg_pool 3 stride 1 (overlapping: not fused) -> z;
/// conv -> avg_pool 2 -> w, with the convolution also an output (not fused).
fn pooled_cnn() -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("pooled");
    let mut p = BTreeMap::new();
    let x = g.add_input(
        "x",
        Shape(vec![
            Dim::Sym("B".into()),
            Dim::Known(2),
            Dim::Known(9),
            Dim::Known(8),
        ]),
        IrDType::F32,
    );
    let w1 = param(&mut g, &mut p, "c1.weight", &[3, 2, 3, 3]);
    let b1 = param(&mut g, &mut p, "c1.bias", &[3]);
    let pad = Attrs::new().with("padding", AttrValue::Int(1));
    let c1 = g.add_op("c1", Op::Conv2d, vec![x, w1, b1], pad).unwrap();
    let r = g.add_op("r", Op::Relu, vec![c1], Attrs::new()).unwrap();
    let two = Attrs::new().with("kernel_size", AttrValue::Int(2));
    let pooled = g.add_op("p", Op::AvgPool2d, vec![r], two.clone()).unwrap();
    let y = g.add_op("y", Op::Tanh, vec![pooled], Attrs::new()).unwrap();
    let w2 = param(&mut g, &mut p, "c2.weight", &[2, 2, 2, 2]);
    let c2 = g
        .add_op("c2", Op::Conv2d, vec![x, w2], Attrs::new())
        .unwrap();
    let overlapping = Attrs::new()
        .with("kernel_size", AttrValue::Int(3))
        .with("stride", AttrValue::Int(1));
    let z = g.add_op("z", Op::AvgPool2d, vec![c2], overlapping).unwrap();
    let w3 = param(&mut g, &mut p, "c3.weight", &[2, 2, 3, 3]);
    let c3 = g
        .add_op("c3", Op::Conv2d, vec![x, w3], Attrs::new())
        .unwrap();
    let pw = g.add_op("w", Op::AvgPool2d, vec![c3], two).unwrap();
    g.add_output("y", y);
    g.add_output("z", z);
    g.add_output("w", pw);
    g.add_output("c3", c3);
    (g, p)
}

#[test]
fn whole_window_average_pools_fuse_into_the_convolution() {
    let (g, p) = pooled_cnn();
    let plan = compile(&g, &p).unwrap();
    let stats = plan.stats();
    assert_eq!(stats.generic_steps, 0, "{stats:?}");
    // c1 takes relu and the pool; tanh after the pool, the overlapping pool and the pool of
    // an output convolution stay steps of their own.
    assert_eq!(stats.fused_into_gemm, 1, "{stats:?}");
    let pooled = plan
        .schedule()
        .steps
        .iter()
        .filter(|s| matches!(s.kind, schedule::FastKind::Conv2d { pool: Some(_), .. }))
        .count();
    assert_eq!(pooled, 1);
    let mut session = plan.session();
    for batch in [2usize, 1] {
        let shape = [batch, 2, 9, 8];
        let x = Tensor::from_f32(&shape, fill(&shape, batch as f64)).unwrap();
        session.run(&[&x]).unwrap();
        session.run(&[&x]).unwrap();
        let generic = plan.run_generic(&named(x.clone())).unwrap();
        let reference = denote(&g, &p, &named(x.clone())).unwrap();
        for name in ["y", "z", "w", "c3"] {
            let fast = session.output(name).unwrap();
            assert!(close(fast, &generic[name], 1e-5), "{name} b{batch}");
            assert!(close(fast, reference.output(name).unwrap(), 1e-5), "{name}");
        }
    }
}

#[test]
fn f64_and_transposed_inputs_are_converted() {
    let (g, p) = cnn();
    let plan = compile(&g, &p).unwrap();
    let shape = [3, 2, 7, 6];
    let data = fill(&shape, 9.0);
    let x32 = Tensor::from_f32(&shape, data.clone()).unwrap();
    let x64 = Tensor::from_f64(&shape, data.iter().map(|&v| f64::from(v)).collect()).unwrap();
    let mut session = plan.session();
    session.run(&[&x32]).unwrap();
    let want = session.output("y").unwrap().clone();
    session.run(&[&x64]).unwrap();
    assert_eq!(session.output("y").unwrap(), &want);
    // The same values held in a non-standard layout.
    let Tensor::F32(a) = &x32 else { unreachable!() };
    let mut t = a.clone().permuted_axes(ndarray::IxDyn(&[0, 1, 3, 2]));
    t = t.as_standard_layout().into_owned();
    let back = Tensor::F32(t.permuted_axes(ndarray::IxDyn(&[0, 1, 3, 2])));
    assert!(!back.to_f32().is_standard_layout());
    session.run(&[&back]).unwrap();
    assert_eq!(session.output("y").unwrap(), &want);
}

#[test]
fn session_errors_are_coded_and_it_recovers() {
    let (g, p) = cnn();
    let plan = compile(&g, &p).unwrap();
    let mut session = plan.session();
    assert_eq!(session.run(&[]).unwrap_err().code(), "TL0510");
    let wrong = Tensor::from_f32(&[1, 3, 7, 6], vec![0.0; 126]).unwrap();
    assert_eq!(session.run(&[&wrong]).unwrap_err().code(), "TL0511");
    let ints = Tensor::from_i64(&[1, 2, 7, 6], vec![1; 84]).unwrap();
    assert_eq!(session.run(&[&ints]).unwrap_err().code(), "TL0511");
    assert_eq!(
        session.run_named(&BTreeMap::new()).unwrap_err().code(),
        "TL0510"
    );
    let x = Tensor::from_f32(&[1, 2, 7, 6], fill(&[1, 2, 7, 6], 0.0)).unwrap();
    session.run_named(&named(x.clone())).unwrap();
    let generic = plan.run_generic(&named(x)).unwrap();
    assert!(close(session.output("y").unwrap(), &generic["y"], 1e-5));
    assert_eq!(session.outputs().count(), 2);
}

#[test]
fn outputs_that_are_inputs_or_constants_get_their_own_buffers() {
    let mut g = Graph::new("passthrough");
    let x = g.add_input("x", Shape::known(&[3]), IrDType::F32);
    let i = g.add_op("i", Op::Identity, vec![x], Attrs::new()).unwrap();
    let k = g
        .add_op(
            "k",
            Op::Constant,
            vec![],
            Attrs::new().with("value", AttrValue::Float(2.5)),
        )
        .unwrap();
    let n = g.add_op("n", Op::Neg, vec![x], Attrs::new()).unwrap();
    g.add_output("same", i);
    g.add_output("k", k);
    g.add_output("n", n);
    let plan = compile(&g, &BTreeMap::new()).unwrap();
    let x = Tensor::from_f32(&[3], vec![1.0, -2.0, 3.0]).unwrap();
    let mut session = plan.session();
    session.run(&[&x]).unwrap();
    assert_eq!(session.output("same"), Some(&x));
    assert_eq!(
        session
            .output("k")
            .unwrap()
            .to_f64()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![2.5]
    );
    let y = Tensor::from_f32(&[3], vec![0.5, 0.0, -1.0]).unwrap();
    session.run(&[&y]).unwrap();
    assert_eq!(session.output("same"), Some(&y));
    assert_eq!(
        session.output("n"),
        Some(&Tensor::from_f32(&[3], vec![-0.5, -0.0, 1.0]).unwrap())
    );
    assert_eq!(plan.input_names().collect::<Vec<_>>(), vec!["x"]);
}

#[test]
fn steps_without_fast_kernels_still_run() {
    // argmax has no allocation-free kernel: it runs generically in a session.
    let mut g = Graph::new("generic");
    let mut p = BTreeMap::new();
    let x = g.add_input("x", Shape::known(&[2, 3]), IrDType::F32);
    let w = param(&mut g, &mut p, "w", &[3, 4]);
    let m = g.add_op("m", Op::Matmul, vec![x, w], Attrs::new()).unwrap();
    let r = g.add_op("r", Op::Relu, vec![m], Attrs::new()).unwrap();
    let a = g.add_op("a", Op::Argmax, vec![r], Attrs::new()).unwrap();
    g.add_output("r", r);
    g.add_output("a", a);
    let plan = compile(&g, &p).unwrap();
    assert_eq!(plan.stats().generic_steps, 1);
    let x = Tensor::from_f32(&[2, 3], fill(&[2, 3], 1.0)).unwrap();
    let mut session = plan.session();
    for _ in 0..2 {
        session.run(&[&x]).unwrap();
        let reference = denote(&g, &p, &named(x.clone())).unwrap();
        assert!(close(
            session.output("r").unwrap(),
            reference.output("r").unwrap(),
            1e-6
        ));
        assert_eq!(session.output("a"), reference.output("a"));
    }
}

/// Counts this thread's allocations, so that a test can assert that a steady-state
/// `Session::run` makes none while other tests run on other threads.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    struct Counting;

    fn count() {
        // A const-initialised Cell has no destructor: always accessible, never allocates.
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations made by this thread while `f` runs.
    pub(super) fn allocations_during(f: impl FnOnce()) -> usize {
        let before = ALLOCATIONS.with(Cell::get);
        f();
        ALLOCATIONS.with(Cell::get) - before
    }
}

fn ints(v: &[i64]) -> AttrValue {
    AttrValue::Ints(v.to_vec())
}

/// x[B, T, 16] -> linear -> transpose(1, 2) -> permute(0, 2, 1) -> softmax(-1) ->
/// log_softmax(1) -> add x -> layer_norm -> add row[16] (broadcast) -> sub mean over T
/// (keepdim, broadcast) -> c; y = c * max of c over (B, 16) (keepdim, broadcast);
/// t = sum of c over the last axis. Every op has an allocation-free kernel.
fn encoder_like() -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("encoder_like");
    let mut p = BTreeMap::new();
    let b_t_16 = Shape(vec![
        Dim::Sym("B".into()),
        Dim::Sym("T".into()),
        Dim::Known(16),
    ]);
    let x = g.add_input("x", b_t_16, IrDType::F32);
    let wq = param(&mut g, &mut p, "q.weight", &[16, 16]);
    let bq = param(&mut g, &mut p, "q.bias", &[16]);
    let q = g
        .add_op("q", Op::Linear, vec![x, wq, bq], Attrs::new())
        .unwrap();
    let swap = Attrs::new()
        .with("dim0", AttrValue::Int(1))
        .with("dim1", AttrValue::Int(2));
    let kt = g.add_op("kt", Op::Transpose, vec![q], swap).unwrap();
    let back = Attrs::new().with("dims", ints(&[0, 2, 1]));
    let k = g.add_op("k", Op::Permute, vec![kt], back).unwrap();
    let s = g.add_op("s", Op::Softmax, vec![k], Attrs::new()).unwrap();
    let on_t = Attrs::new().with("axis", AttrValue::Int(1));
    let ls = g.add_op("ls", Op::LogSoftmax, vec![s], on_t).unwrap();
    let sum1 = g
        .add_op("sum1", Op::Add, vec![x, ls], Attrs::new())
        .unwrap();
    let nw = param(&mut g, &mut p, "norm.weight", &[16]);
    let nb = param(&mut g, &mut p, "norm.bias", &[16]);
    let eps = Attrs::new().with("eps", AttrValue::Float(1e-5));
    let n1 = g
        .add_op("n1", Op::LayerNorm, vec![sum1, nw, nb], eps)
        .unwrap();
    let row = param(&mut g, &mut p, "row", &[16]);
    let sh = g
        .add_op("sh", Op::Add, vec![n1, row], Attrs::new())
        .unwrap();
    let keep = |axes: &[i64]| {
        Attrs::new()
            .with("axes", ints(axes))
            .with("keepdim", AttrValue::Bool(true))
    };
    let m = g.add_op("m", Op::Mean, vec![sh], keep(&[1])).unwrap();
    let c = g.add_op("c", Op::Sub, vec![sh, m], Attrs::new()).unwrap();
    let mx = g.add_op("mx", Op::Max, vec![c], keep(&[0, 2])).unwrap();
    let y = g.add_op("y", Op::Mul, vec![c, mx], Attrs::new()).unwrap();
    let last = Attrs::new().with("axes", ints(&[-1]));
    let t = g.add_op("t", Op::Sum, vec![c], last).unwrap();
    g.add_output("y", y);
    g.add_output("t", t);
    (g, p)
}

#[test]
fn encoder_like_graph_runs_allocation_free_and_matches_the_reference() {
    // The counter sees this thread's allocations.
    let boxed = counting::allocations_during(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(boxed, 1);
    let (g, p) = encoder_like();
    let plan = compile(&g, &p).unwrap();
    assert_eq!(plan.stats().generic_steps, 0, "{:?}", plan.stats());
    let mut session = plan.session();
    for (batch, seq) in [(2usize, 5usize), (3, 1), (1, 7)] {
        let shape = [batch, seq, 16];
        let x = Tensor::from_f32(&shape, fill(&shape, seq as f64)).unwrap();
        session.run(&[&x]).unwrap();
        let reference = denote(&g, &p, &named(x.clone())).unwrap();
        let generic = plan.run_generic(&named(x.clone())).unwrap();
        for name in ["y", "t"] {
            let fast = session.output(name).unwrap();
            assert!(
                close(fast, reference.output(name).unwrap(), 1e-4),
                "{name} {shape:?}"
            );
            assert!(close(fast, &generic[name], 1e-5), "{name} {shape:?}");
        }
        let allocations = counting::allocations_during(|| {
            for _ in 0..3 {
                session.run(&[&x]).unwrap();
            }
        });
        assert_eq!(
            allocations, 0,
            "steady-state Session::run allocated ({shape:?})"
        );
    }
}

fn linear(
    g: &mut Graph,
    p: &mut BTreeMap<String, Tensor>,
    name: &str,
    x: usize,
    (out, inp): (usize, usize),
) -> usize {
    let w = param(g, p, &format!("{name}.weight"), &[out, inp]);
    let b = param(g, p, &format!("{name}.bias"), &[out]);
    g.add_op(name, Op::Linear, vec![x, w, b], Attrs::new())
        .unwrap()
}

/// spec-examples/transformer_encoder.tl's `encoder_layer` (causal single-head attention
/// through attention_weights and matmul, add, layer norm, a gelu feed-forward network, add,
/// layer norm) -> out; and `sdpa`: scaled_dot_product_attention of the same q, k, v under a
/// keep mask input `[T, T]` (nonzero keeps) with scale 0.5.
fn encoder_layer() -> (Graph, BTreeMap<String, Tensor>) {
    let mut g = Graph::new("encoder_layer");
    let mut p = BTreeMap::new();
    let t = || Dim::Sym("T".into());
    let x = g.add_input(
        "x",
        Shape(vec![Dim::Sym("B".into()), t(), Dim::Known(16)]),
        IrDType::F32,
    );
    let mask = g.add_input("mask", Shape(vec![t(), t()]), IrDType::F32);
    let q = linear(&mut g, &mut p, "q_proj", x, (16, 16));
    let k = linear(&mut g, &mut p, "k_proj", x, (16, 16));
    let v = linear(&mut g, &mut p, "v_proj", x, (16, 16));
    let causal = Attrs::new().with("causal", AttrValue::Bool(true));
    let w = g
        .add_op("weights", Op::AttentionWeights, vec![q, k], causal)
        .unwrap();
    let mixed = g
        .add_op("mixed", Op::Matmul, vec![w, v], Attrs::new())
        .unwrap();
    let attn = linear(&mut g, &mut p, "out_proj", mixed, (16, 16));
    let sum1 = g
        .add_op("sum1", Op::Add, vec![x, attn], Attrs::new())
        .unwrap();
    let norm = |g: &mut Graph, p: &mut BTreeMap<String, Tensor>, name: &str, x: usize| {
        let w = param(g, p, &format!("{name}.weight"), &[16]);
        let b = param(g, p, &format!("{name}.bias"), &[16]);
        let eps = Attrs::new().with("eps", AttrValue::Float(1e-5));
        g.add_op(name, Op::LayerNorm, vec![x, w, b], eps).unwrap()
    };
    let norm1 = norm(&mut g, &mut p, "norm1", sum1);
    let ff = linear(&mut g, &mut p, "fc1", norm1, (32, 16));
    let act = g.add_op("act", Op::Gelu, vec![ff], Attrs::new()).unwrap();
    let ff_out = linear(&mut g, &mut p, "fc2", act, (16, 32));
    let sum2 = g
        .add_op("sum2", Op::Add, vec![norm1, ff_out], Attrs::new())
        .unwrap();
    let out = norm(&mut g, &mut p, "norm2", sum2);
    let scale = Attrs::new().with("scale", AttrValue::Float(0.5));
    let sdpa = g
        .add_op(
            "sdpa",
            Op::ScaledDotProductAttention,
            vec![q, k, v, mask],
            scale,
        )
        .unwrap();
    g.add_output("out", out);
    g.add_output("sdpa", sdpa);
    (g, p)
}

#[test]
fn encoder_layer_with_attention_runs_allocation_free_and_matches_the_reference() {
    let (g, p) = encoder_layer();
    let plan = compile(&g, &p).unwrap();
    assert_eq!(plan.stats().generic_steps, 0, "{:?}", plan.stats());
    let mut session = plan.session();
    for (batch, seq) in [(2usize, 5usize), (3, 1), (1, 9)] {
        let shape = [batch, seq, 16];
        let x = Tensor::from_f32(&shape, fill(&shape, seq as f64)).unwrap();
        // Query 0 sees no key (a fully masked row); the others keep about two thirds.
        let keep = (0..seq * seq)
            .map(|i| f32::from(i >= seq && i % 3 != 1))
            .collect();
        let mask = Tensor::from_f32(&[seq, seq], keep).unwrap();
        session.run(&[&x, &mask]).unwrap();
        let inputs: BTreeMap<String, Tensor> = [
            ("x".to_string(), x.clone()),
            ("mask".to_string(), mask.clone()),
        ]
        .into();
        let reference = denote(&g, &p, &inputs).unwrap();
        let generic = plan.run_generic(&inputs).unwrap();
        for name in ["out", "sdpa"] {
            let fast = session.output(name).unwrap();
            assert!(
                close(fast, reference.output(name).unwrap(), 1e-4),
                "{name} {shape:?}"
            );
            assert!(close(fast, &generic[name], 1e-5), "{name} {shape:?}");
        }
        let sdpa = session.output("sdpa").unwrap().to_f64();
        let first_query = sdpa.iter().take(16).all(|&v| v == 0.0);
        assert!(first_query, "a fully masked query attends to nothing");
        let allocations = counting::allocations_during(|| {
            for _ in 0..3 {
                session.run(&[&x, &mask]).unwrap();
            }
        });
        assert_eq!(
            allocations, 0,
            "steady-state Session::run allocated ({shape:?})"
        );
    }
}

/// x[B, 5, 6] -> concat(x, tanh x) on the features -> slice every second step from 1 ->
/// gather the features picked by an i64 input (negative ones from the end) -> y; and
/// concat of the slice with itself along the steps -> z.
#[test]
fn concat_slice_and_gather_run_allocation_free_and_match_the_reference() {
    let mut g = Graph::new("copies");
    let x = g.add_input(
        "x",
        Shape(vec![Dim::Sym("B".into()), Dim::Known(5), Dim::Known(6)]),
        IrDType::F32,
    );
    let idx = g.add_input("idx", Shape(vec![Dim::Sym("K".into())]), IrDType::I64);
    let t = g.add_op("t", Op::Tanh, vec![x], Attrs::new()).unwrap();
    let features = Attrs::new().with("axis", AttrValue::Int(2));
    let c = g
        .add_op("c", Op::Concat, vec![x, t], features.clone())
        .unwrap();
    let every_second = Attrs::new()
        .with("axis", AttrValue::Int(1))
        .with("start", AttrValue::Int(1))
        .with("step", AttrValue::Int(2));
    let s = g.add_op("s", Op::Slice, vec![c], every_second).unwrap();
    let y = g.add_op("y", Op::Gather, vec![s, idx], features).unwrap();
    let steps = Attrs::new().with("axis", AttrValue::Int(1));
    let z = g.add_op("z", Op::Concat, vec![s, s], steps).unwrap();
    g.add_output("y", y);
    g.add_output("z", z);
    let plan = compile(&g, &BTreeMap::new()).unwrap();
    assert_eq!(plan.stats().generic_steps, 0, "{:?}", plan.stats());
    let mut session = plan.session();
    for (batch, picks) in [(2usize, vec![0i64, 11, -1, 3]), (1, vec![-12])] {
        let shape = [batch, 5, 6];
        let x = Tensor::from_f32(&shape, fill(&shape, batch as f64)).unwrap();
        let idx = Tensor::I64(
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[picks.len()]), picks).unwrap(),
        );
        session.run(&[&x, &idx]).unwrap();
        let inputs: BTreeMap<String, Tensor> = [
            ("x".to_string(), x.clone()),
            ("idx".to_string(), idx.clone()),
        ]
        .into();
        let generic = plan.run_generic(&inputs).unwrap();
        let reference = denote(&g, &BTreeMap::new(), &inputs).unwrap();
        for name in ["y", "z"] {
            // Pure copies: the generic kernels' values exactly.
            assert_eq!(session.output(name), Some(&generic[name]), "{name}");
            assert!(close(
                session.output(name).unwrap(),
                reference.output(name).unwrap(),
                1e-6
            ));
        }
        let allocations = counting::allocations_during(|| session.run(&[&x, &idx]).unwrap());
        assert_eq!(allocations, 0, "steady-state Session::run allocated");
    }
    // An index out of range: the generic kernel's coded error, from the session too.
    let x = Tensor::from_f32(&[1, 5, 6], fill(&[1, 5, 6], 0.0)).unwrap();
    let bad = Tensor::I64(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[1]), vec![12]).unwrap());
    let err = session.run(&[&x, &bad]).unwrap_err();
    let inputs: BTreeMap<String, Tensor> = [("x".to_string(), x), ("idx".to_string(), bad)].into();
    assert_eq!(
        err.to_string(),
        plan.run_generic(&inputs).unwrap_err().to_string()
    );
}

/// x[B, 3, 4, 5] -> batch_norm (IR order: x, weight, bias, mean, var) -> y; rms_norm of x
/// with a weight -> r; rms_norm of y without one (eps 0.1) -> s.
#[test]
fn batch_and_rms_norm_run_allocation_free_and_equal_the_generic_kernels() {
    let mut g = Graph::new("norms");
    let mut p = BTreeMap::new();
    let x = g.add_input(
        "x",
        Shape(vec![
            Dim::Sym("B".into()),
            Dim::Known(3),
            Dim::Known(4),
            Dim::Known(5),
        ]),
        IrDType::F32,
    );
    let w = param(&mut g, &mut p, "bn.weight", &[3]);
    let b = param(&mut g, &mut p, "bn.bias", &[3]);
    let mean = param(&mut g, &mut p, "bn.mean", &[3]);
    let var = g.add_param("bn.var", Shape::known(&[3]), IrDType::F32);
    p.insert(
        "bn.var".into(),
        Tensor::from_f32(&[3], vec![0.5, 1.0, 2.5]).unwrap(),
    );
    let y = g
        .add_op("y", Op::BatchNorm, vec![x, w, b, mean, var], Attrs::new())
        .unwrap();
    let rw = param(&mut g, &mut p, "rms.weight", &[5]);
    let r = g
        .add_op("r", Op::RmsNorm, vec![x, rw], Attrs::new())
        .unwrap();
    let eps = Attrs::new().with("eps", AttrValue::Float(0.1));
    let s = g.add_op("s", Op::RmsNorm, vec![y], eps).unwrap();
    for (name, id) in [("y", y), ("r", r), ("s", s)] {
        g.add_output(name, id);
    }
    let plan = compile(&g, &p).unwrap();
    assert_eq!(plan.stats().generic_steps, 0, "{:?}", plan.stats());
    let mut session = plan.session();
    for batch in [2usize, 1, 0] {
        let shape = [batch, 3, 4, 5];
        let x = Tensor::from_f32(&shape, fill(&shape, batch as f64)).unwrap();
        session.run(&[&x]).unwrap();
        let generic = plan.run_generic(&named(x.clone())).unwrap();
        let reference = denote(&g, &p, &named(x.clone())).unwrap();
        for name in ["y", "r", "s"] {
            // The same arithmetic in the same order: the generic kernels' values exactly.
            assert_eq!(session.output(name), Some(&generic[name]), "{name}");
            let want = reference.output(name).unwrap();
            assert!(close(session.output(name).unwrap(), want, 1e-5), "{name}");
        }
        let allocations = counting::allocations_during(|| session.run(&[&x]).unwrap());
        assert_eq!(allocations, 0, "steady-state Session::run allocated");
    }
}

/// `x @ W` with W a 2-D param runs the packed GEMM (relu fused), for x of rank 1 to 3, and
/// `x @ y` of two inputs (broadcast batch) the batched kernel; both allocation-free.
#[test]
fn matmul_by_a_param_runs_the_packed_gemm_and_by_an_input_the_batched_kernel() {
    let mut g = Graph::new("matmuls");
    let mut p = BTreeMap::new();
    let x = g.add_input(
        "x",
        Shape(vec![Dim::Sym("R".into()), Dim::Known(5)]),
        IrDType::F32,
    );
    let v = g.add_input("v", Shape::known(&[5]), IrDType::F32);
    let b = g.add_input(
        "b",
        Shape(vec![Dim::Sym("B".into()), Dim::Known(5), Dim::Known(3)]),
        IrDType::F32,
    );
    let w = param(&mut g, &mut p, "w", &[5, 7]);
    let m = g.add_op("m", Op::Matmul, vec![x, w], Attrs::new()).unwrap();
    let r = g.add_op("r", Op::Relu, vec![m], Attrs::new()).unwrap();
    let mv = g
        .add_op("mv", Op::Matmul, vec![v, w], Attrs::new())
        .unwrap();
    let xb = g
        .add_op("xb", Op::Matmul, vec![x, b], Attrs::new())
        .unwrap();
    for (name, id) in [("r", r), ("mv", mv), ("xb", xb)] {
        g.add_output(name, id);
    }
    let plan = compile(&g, &p).unwrap();
    let stats = plan.stats();
    assert_eq!(
        (stats.generic_steps, stats.fused_into_gemm),
        (0, 1),
        "{stats:?}"
    );
    let mut session = plan.session();
    for (rows, batch) in [(4usize, 2usize), (1, 3)] {
        let x = Tensor::from_f32(&[rows, 5], fill(&[rows, 5], 0.5)).unwrap();
        let v = Tensor::from_f32(&[5], fill(&[5], 1.5)).unwrap();
        let b = Tensor::from_f32(&[batch, 5, 3], fill(&[batch, 5, 3], 2.5)).unwrap();
        session.run(&[&x, &v, &b]).unwrap();
        let inputs: BTreeMap<String, Tensor> =
            [("x", x.clone()), ("v", v.clone()), ("b", b.clone())]
                .map(|(n, t)| (n.to_string(), t))
                .into();
        let generic = plan.run_generic(&inputs).unwrap();
        for name in ["r", "mv", "xb"] {
            assert!(
                close(session.output(name).unwrap(), &generic[name], 1e-5),
                "{name}"
            );
        }
        let allocations = counting::allocations_during(|| session.run(&[&x, &v, &b]).unwrap());
        assert_eq!(allocations, 0, "steady-state Session::run allocated");
    }
}

mod property {
    use super::*;
    use proptest::prelude::*;

    /// A random stack of linear layers (random widths, with or without bias), each followed by
    /// nothing, relu or tanh, on a batch of random size: the session agrees with the reference.
    fn layers() -> impl Strategy<Value = Vec<(usize, bool, u8)>> {
        proptest::collection::vec((1usize..40, any::<bool>(), 0u8..3), 1..4)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn session_agrees_with_reference(layers in layers(), batch in 1usize..20, width in 1usize..50) {
            let mut g = Graph::new("stack");
            let mut p = BTreeMap::new();
            let x = g.add_input(
                "x",
                Shape(vec![Dim::Sym("B".into()), Dim::Known(width as u64)]),
                IrDType::F32,
            );
            let (mut cur, mut k) = (x, width);
            for (i, &(out, bias, act)) in layers.iter().enumerate() {
                let mut parents = vec![cur, param(&mut g, &mut p, &format!("w{i}"), &[out, k])];
                if bias {
                    parents.push(param(&mut g, &mut p, &format!("b{i}"), &[out]));
                }
                cur = g.add_op(format!("l{i}"), Op::Linear, parents, Attrs::new()).unwrap();
                let op = match act {
                    0 => None,
                    1 => Some(Op::Relu),
                    _ => Some(Op::Tanh),
                };
                if let Some(op) = op {
                    cur = g.add_op(format!("a{i}"), op, vec![cur], Attrs::new()).unwrap();
                }
                k = out;
            }
            g.add_output("y", cur);
            let plan = compile(&g, &p).unwrap();
            prop_assert_eq!(plan.stats().generic_steps, 0);
            let x = Tensor::from_f32(&[batch, width], fill(&[batch, width], batch as f64)).unwrap();
            let mut session = plan.session();
            session.run(&[&x]).unwrap();
            let reference = denote(&g, &p, &named(x)).unwrap();
            let (got, want) = (session.output("y").unwrap(), reference.output("y").unwrap());
            // f32 against f64: the rounding error scales with the magnitudes along the whole
            // computation (hidden values reach hundreds before a tanh squashes them), so the
            // tolerance is relative to the largest value of any node.
            let scale = (0..g.nodes.len())
                .filter_map(|id| reference.node(id))
                .flat_map(|t| t.to_f64().into_iter())
                .fold(0.0f64, |m, v| m.max(v.abs()));
            prop_assert!(close(got, want, 1e-5 * (1.0 + scale)), "{:?} vs {:?}", got, want);
        }
    }
}
