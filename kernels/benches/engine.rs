//! Engine benchmark (release): the compiled f32 plan on the spec-examples MLP and CNN at batch 1
//! and 64 against onnxruntime (single-threaded, same models and weights, same run), through a
//! `Session` (preallocated buffers) and through `Plan::run`; a graph of the encoder layer's
//! non-attention ops (softmax, log-softmax, layer norm, transpose/permute, reductions,
//! broadcasting binary ops) through a `Session`; allocations per steady-state forward pass (a
//! counting global allocator); and loading a 100 MB safetensors file against reading its bytes.
//!
//! Run: cargo bench -p tl-kernels --bench engine
//! The onnxruntime side is tools/fixtures/bench_onnxruntime.py (pip install onnx onnxruntime
//! numpy); without it the comparison is skipped with a printed reason.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tl_ir::{AttrValue, Attrs, DType as IrDType, Dim, Graph, Op, Shape};
use tl_kernels::payload::safetensors::SafeTensorsFile;
use tl_kernels::{compile, Tensor};

/// Counts allocations so the bench can report them per forward pass.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("kernels/ has a parent")
        .to_path_buf()
}

/// Median wall time of `f` in microseconds, after a warm-up, over at least 0.5 s and 50 runs.
fn median_micros(mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 0.5 || times.len() < 50 {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    times[times.len() / 2] * 1e6
}

fn onnxruntime_side(dir: &Path) -> Option<serde_json::Value> {
    let script = repo_root().join("tools/fixtures/bench_onnxruntime.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).ok(),
        Ok(o) => {
            println!(
                "onnxruntime comparison skipped: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            None
        }
        Err(e) => {
            println!("onnxruntime comparison skipped: python3: {e}");
            None
        }
    }
}

/// Allocations and bytes per call of `f`, averaged over 100 calls.
fn allocations_per_call(mut f: impl FnMut()) -> (usize, usize) {
    const RUNS: usize = 100;
    let (a0, b0) = (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    for _ in 0..RUNS {
        f();
    }
    (
        (ALLOCS.load(Ordering::Relaxed) - a0) / RUNS,
        (BYTES.load(Ordering::Relaxed) - b0) / RUNS,
    )
}

fn forward_passes(dir: &Path, ort: &serde_json::Value) {
    println!("| model | batch | tl Session::run (us) | tl Plan::run (us) | onnxruntime 1 thread (us) | session / ort | allocations per Session::run | allocations per Plan::run | bytes per Plan::run |");
    println!("|---|---|---|---|---|---|---|---|---|");
    // TL_ENGINE_BENCH_MODELS=cnn times one model (for profiling); mlp, cnn, encoder.
    let only = std::env::var("TL_ENGINE_BENCH_MODELS").unwrap_or_default();
    for name in ["mlp", "cnn"] {
        if !only.is_empty() && !only.split(',').any(|m| m == name) {
            continue;
        }
        let model = tl_kernels::onnx::load(&dir.join(format!("{name}.onnx"))).expect("model");
        let imported = tl_kernels::onnx::import(&model).expect("import");
        let plan = compile(&imported.graph, &imported.payload).expect("compile");
        let stats = plan.stats();
        assert_eq!(
            stats.generic_steps, 0,
            "{name}: every step has a fast kernel"
        );
        let mut session = plan.session();
        for batch in [1, 64] {
            let x = tl_kernels::payload::npy::read(&dir.join(format!("{name}.x{batch}.npy")))
                .expect("input");
            let inputs: BTreeMap<String, Tensor> = [("x".to_string(), x.clone())].into();
            // The session and Plan::run (from its second call with a shape on, the same fast
            // schedule) agree before anything is timed.
            session.run(&[&x]).expect("run");
            plan.run(&inputs).expect("run");
            let by_plan = plan.run(&inputs).expect("run");
            assert_eq!(session.output("y"), by_plan.get("y"), "{name} b{batch}");
            let session_micros = median_micros(|| {
                session.run(&[&x]).expect("run");
                std::hint::black_box(session.output("y"));
            });
            let plan_micros = median_micros(|| {
                std::hint::black_box(plan.run(&inputs).expect("run"));
            });
            let (session_allocs, _) = allocations_per_call(|| {
                session.run(&[&x]).expect("run");
                std::hint::black_box(session.output("y"));
            });
            assert_eq!(session_allocs, 0, "{name} b{batch}: Session::run allocated");
            let (plan_allocs, plan_bytes) = allocations_per_call(|| {
                std::hint::black_box(plan.run(&inputs).expect("run"));
            });
            let ort_micros = ort[name][batch.to_string()].as_f64().unwrap_or(f64::NAN);
            println!(
                "| {name} | {batch} | {session_micros:.1} | {plan_micros:.1} | {ort_micros:.1} | {:.2} | {session_allocs} | {plan_allocs} | {plan_bytes} |",
                session_micros / ort_micros
            );
        }
        println!(
            "{name}: {} fast steps ({} fused into a GEMM), {} generic",
            stats.fast_steps, stats.fused_into_gemm, stats.generic_steps
        );
    }
}

/// x[B, 16, 32] -> linear 32->32 -> transpose(1, 2) -> permute(0, 2, 1) -> softmax ->
/// log_softmax over the sequence -> add x -> layer_norm -> add a row (broadcast) -> subtract the
/// mean over the sequence (broadcast) -> c; y = c * its max over (B, features) (broadcast),
/// A param `key` of `shape` with fixed deterministic values in [-scale, scale], added to the graph
/// and the payload.
fn add_param(
    g: &mut Graph,
    p: &mut BTreeMap<String, Tensor>,
    key: &str,
    shape: &[usize],
    scale: f32,
) -> usize {
    let n: usize = shape.iter().product();
    let values = (0..n).map(|i| ((i as f32 + key.len() as f32) * 0.37).sin() * scale);
    p.insert(
        key.to_string(),
        Tensor::from_f32(shape, values.collect()).expect("shape"),
    );
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    g.add_param(key, Shape::known(&dims), IrDType::F32)
}

/// The graph input x: f32[B, 16, width] of the encoder graphs.
fn sequence_input(g: &mut Graph, width: usize) -> usize {
    let shape = Shape(vec![
        Dim::Sym("B".into()),
        Dim::Known(16),
        Dim::Known(width as u64),
    ]);
    g.add_input("x", shape, IrDType::F32)
}

/// t = sum of c over features: the encoder layer's ops other than attention and matmul.
fn encoder_ops_graph() -> (Graph, BTreeMap<String, Tensor>) {
    const D: usize = 32;
    let mut g = Graph::new("encoder_ops");
    let mut p = BTreeMap::new();
    let mut param =
        |g: &mut Graph, key: &str, shape: &[usize]| add_param(g, &mut p, key, shape, 0.2);
    let x = sequence_input(&mut g, D);
    let (w, b) = (
        param(&mut g, "q.weight", &[D, D]),
        param(&mut g, "q.bias", &[D]),
    );
    let (nw, nb) = (
        param(&mut g, "n.weight", &[D]),
        param(&mut g, "n.bias", &[D]),
    );
    let row = param(&mut g, "row", &[D]);
    let mut op = |name: &str, op: Op, parents: Vec<usize>, attrs: Attrs| {
        g.add_op(name, op, parents, attrs).expect("valid op")
    };
    let ints = |v: &[i64]| AttrValue::Ints(v.to_vec());
    let q = op("q", Op::Linear, vec![x, w, b], Attrs::new());
    let swap = Attrs::new()
        .with("dim0", AttrValue::Int(1))
        .with("dim1", AttrValue::Int(2));
    let kt = op("kt", Op::Transpose, vec![q], swap);
    let k = op(
        "k",
        Op::Permute,
        vec![kt],
        Attrs::new().with("dims", ints(&[0, 2, 1])),
    );
    let s = op("s", Op::Softmax, vec![k], Attrs::new());
    let ls = op(
        "ls",
        Op::LogSoftmax,
        vec![s],
        Attrs::new().with("axis", AttrValue::Int(1)),
    );
    let sum = op("sum", Op::Add, vec![x, ls], Attrs::new());
    let n = op("n", Op::LayerNorm, vec![sum, nw, nb], Attrs::new());
    let shifted = op("sh", Op::Add, vec![n, row], Attrs::new());
    let keep = |axes: &[i64]| {
        Attrs::new()
            .with("axes", ints(axes))
            .with("keepdim", AttrValue::Bool(true))
    };
    let mean = op("m", Op::Mean, vec![shifted], keep(&[1]));
    let c = op("c", Op::Sub, vec![shifted, mean], Attrs::new());
    let max = op("mx", Op::Max, vec![c], keep(&[0, 2]));
    let y = op("y", Op::Mul, vec![c, max], Attrs::new());
    let t = op(
        "t",
        Op::Sum,
        vec![c],
        Attrs::new().with("axes", ints(&[-1])),
    );
    g.add_output("y", y);
    g.add_output("t", t);
    (g, p)
}

/// spec-examples/transformer_encoder.tl's `encoder_layer` at width 16 (x `[B, 16, 16]`):
/// q/k/v linears, causal attention_weights, matmul with v, out linear, add, layer norm, a
/// gelu feed-forward network 16 -> 32 -> 16, add, layer norm.
fn encoder_layer_graph() -> (Graph, BTreeMap<String, Tensor>) {
    const D: usize = 16;
    let mut g = Graph::new("encoder_layer");
    let mut p = BTreeMap::new();
    type Params = BTreeMap<String, Tensor>;
    let param = |g: &mut Graph, p: &mut Params, key: &str, shape: &[usize]| {
        add_param(g, p, key, shape, 0.3)
    };
    let x = sequence_input(&mut g, D);
    let linear = |g: &mut Graph, p: &mut Params, name: &str, x: usize, (out, inp)| {
        let w = param(g, p, &format!("{name}.weight"), &[out, inp]);
        let b = param(g, p, &format!("{name}.bias"), &[out]);
        g.add_op(name, Op::Linear, vec![x, w, b], Attrs::new())
            .expect("valid op")
    };
    let q = linear(&mut g, &mut p, "q_proj", x, (D, D));
    let k = linear(&mut g, &mut p, "k_proj", x, (D, D));
    let v = linear(&mut g, &mut p, "v_proj", x, (D, D));
    let causal = Attrs::new().with("causal", AttrValue::Bool(true));
    let w = g
        .add_op("weights", Op::AttentionWeights, vec![q, k], causal)
        .expect("valid op");
    let mixed = g
        .add_op("mixed", Op::Matmul, vec![w, v], Attrs::new())
        .expect("valid op");
    let attn = linear(&mut g, &mut p, "out_proj", mixed, (D, D));
    let ff_in = |g: &mut Graph, name: &str, a: usize, b: usize| {
        g.add_op(name, Op::Add, vec![a, b], Attrs::new())
            .expect("valid op")
    };
    let sum1 = ff_in(&mut g, "sum1", x, attn);
    let norm = |g: &mut Graph, p: &mut Params, name: &str, x: usize| {
        let w = param(g, p, &format!("{name}.weight"), &[D]);
        let b = param(g, p, &format!("{name}.bias"), &[D]);
        let eps = Attrs::new().with("eps", AttrValue::Float(1e-5));
        g.add_op(name, Op::LayerNorm, vec![x, w, b], eps)
            .expect("valid op")
    };
    let norm1 = norm(&mut g, &mut p, "norm1", sum1);
    let ff = linear(&mut g, &mut p, "fc1", norm1, (2 * D, D));
    let act = g
        .add_op("act", Op::Gelu, vec![ff], Attrs::new())
        .expect("valid op");
    let ff_out = linear(&mut g, &mut p, "fc2", act, (D, 2 * D));
    let sum2 = ff_in(&mut g, "sum2", norm1, ff_out);
    let out = norm(&mut g, &mut p, "norm2", sum2);
    g.add_output("y", out);
    (g, p)
}

fn encoder_ops() {
    let graphs = [
        ("encoder ops (x [B, 16, 32])", encoder_ops_graph(), 32),
        ("encoder layer (x [B, 16, 16])", encoder_layer_graph(), 16),
    ];
    for (label, (graph, payload), width) in graphs {
        encoder_table(label, &graph, &payload, width);
    }
}

fn encoder_table(label: &str, graph: &Graph, payload: &BTreeMap<String, Tensor>, width: usize) {
    let plan = compile(graph, payload).expect("compile");
    let stats = plan.stats();
    assert_eq!(
        stats.generic_steps, 0,
        "{label}: every op has a fast kernel"
    );
    println!();
    println!("| {label} | batch | tl Session::run (us) | tl Plan::run (us) | allocations per Session::run |");
    println!("|---|---|---|---|---|");
    let mut session = plan.session();
    for batch in [1usize, 64] {
        let shape = [batch, 16, width];
        let n: usize = shape.iter().product();
        let values = (0..n).map(|i| (i as f32 * 0.013).cos());
        let x = Tensor::from_f32(&shape, values.collect()).expect("shape");
        let inputs: BTreeMap<String, Tensor> = [("x".to_string(), x.clone())].into();
        session.run(&[&x]).expect("run");
        let session_micros = median_micros(|| {
            session.run(&[&x]).expect("run");
            std::hint::black_box(session.output("y"));
        });
        let plan_micros = median_micros(|| {
            std::hint::black_box(plan.run(&inputs).expect("run"));
        });
        let (allocs, _) = allocations_per_call(|| {
            session.run(&[&x]).expect("run");
            std::hint::black_box(session.output("y"));
        });
        assert_eq!(allocs, 0, "{label} b{batch}: Session::run allocated");
        println!("| | {batch} | {session_micros:.1} | {plan_micros:.1} | {allocs} |");
    }
    println!(
        "{label}: {} fast steps ({} fused into a GEMM), {} generic",
        stats.fast_steps, stats.fused_into_gemm, stats.generic_steps
    );
}

fn safetensors_load(dir: &Path) {
    let n = 25 * 1024 * 1024; // 100 MiB of f32
    let data: Vec<u8> = (0..n)
        .flat_map(|i| ((i % 1000) as f32 * 0.001).to_le_bytes())
        .collect();
    let header = format!(
        "{{\"big\":{{\"dtype\":\"F32\",\"shape\":[{n}],\"data_offsets\":[0,{}]}}}}",
        data.len()
    );
    let mut padded = header.into_bytes();
    while padded.len() % 8 != 0 {
        padded.push(b' ');
    }
    let path = dir.join("big.safetensors");
    let mut bytes = (padded.len() as u64).to_le_bytes().to_vec();
    bytes.extend(&padded);
    bytes.extend(&data);
    std::fs::write(&path, &bytes).expect("write");
    drop(bytes);
    let time = |f: &mut dyn FnMut()| {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        best
    };
    let read = time(&mut || {
        std::hint::black_box(std::fs::read(&path).expect("read"));
    });
    let open = time(&mut || {
        std::hint::black_box(SafeTensorsFile::open(&path).expect("open"));
    });
    let load = time(&mut || {
        let f = SafeTensorsFile::open(&path).expect("open");
        std::hint::black_box(f.tensor("big").expect("tensor"));
    });
    println!();
    println!("| 100 MiB safetensors (warm page cache, best of 5) | ms |");
    println!("|---|---|");
    println!("| std::fs::read of the file | {read:.1} |");
    println!("| SafeTensorsFile::open (mmap + header) | {open:.3} |");
    println!("| open + tensor(\"big\") (decode to an owned f32 Tensor) | {load:.1} |");
    let _ = std::fs::remove_file(&path);
}

fn main() {
    if cfg!(debug_assertions) {
        println!("note: built without optimisations; run `cargo bench -p tl-kernels --bench engine` for numbers");
    }
    let dir = std::env::temp_dir().join(format!("tl-engine-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    match onnxruntime_side(&dir) {
        Some(ort) => {
            println!("onnxruntime {}", ort["onnxruntime"]);
            forward_passes(&dir, &ort);
        }
        None => {
            println!("forward-pass comparison skipped (needs the models the python side writes)")
        }
    }
    let only = std::env::var("TL_ENGINE_BENCH_MODELS").unwrap_or_default();
    if only.is_empty() || only.split(',').any(|m| m == "encoder") {
        encoder_ops();
    }
    safetensors_load(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}
