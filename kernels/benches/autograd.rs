//! Autograd benchmark: reverse mode (one VJP from a cotangent of ones) and forward mode (one JVP
//! along a random direction through the input) over the f64 reference semantics, on a
//! transformer encoder layer and a ResNet-style CNN; and the Jacobian enclosure (Lipschitz bound,
//! interval forward mode without CROWN's layer bounds) of the ACAS Xu controller of
//! spec-examples over its property box, against the sampled lower bound (the largest exact
//! Jacobian norm at random points of the box).
//!
//! Run: cargo bench -p tl-kernels --bench autograd   (or `--profile dev` on a shared machine)

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use ndarray::{ArrayD, IxDyn};
use tl_ir::{AttrValue, Attrs, DType, Graph, Op, Shape};
use tl_kernels::autograd::{backward_from, forward_tangents, jacobian_enclosure, jvp, Seeds};
use tl_kernels::{denote, Tensor};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn array(&mut self, shape: &[usize], scale: f64) -> ArrayD<f64> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || scale * (2.0 * self.next() - 1.0))
    }
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut t = Vec::new();
    let start = Instant::now();
    while t.len() < 5 || (start.elapsed().as_secs_f64() < 1.0 && t.len() < 200) {
        let s = Instant::now();
        f();
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

type Params = BTreeMap<String, Tensor>;

fn param(g: &mut Graph, p: &mut Params, rng: &mut Rng, key: &str, shape: &[usize]) -> usize {
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let id = g.add_param(key, Shape::known(&dims), DType::F32);
    let fan = shape.iter().skip(1).product::<usize>().max(1) as f64;
    p.insert(key.into(), Tensor::F64(rng.array(shape, 1.0 / fan.sqrt())));
    id
}

/// x [B, S, D] -> post-norm encoder layer (q/k/v, causal attention, out proj, add & norm, gelu
/// FFN D -> 4D -> D, add & norm).
fn encoder(b: usize, s: usize, d: usize) -> (Graph, Params, Vec<usize>) {
    let mut rng = Rng(1);
    let mut g = Graph::new("encoder");
    let mut p = Params::new();
    let x = g.add_input(
        "x",
        Shape::known(&[b as u64, s as u64, d as u64]),
        DType::F32,
    );
    let mut lin = |g: &mut Graph, p: &mut Params, name: &str, x: usize, o: usize, i: usize| {
        let w = param(g, p, &mut rng, &format!("{name}.w"), &[o, i]);
        let bb = param(g, p, &mut rng, &format!("{name}.b"), &[o]);
        g.add_op(name, Op::Linear, vec![x, w, bb], Attrs::new())
            .unwrap()
    };
    let q = lin(&mut g, &mut p, "q", x, d, d);
    let k = lin(&mut g, &mut p, "k", x, d, d);
    let v = lin(&mut g, &mut p, "v", x, d, d);
    let a = g
        .add_op(
            "attn",
            Op::ScaledDotProductAttention,
            vec![q, k, v],
            Attrs::new().with("causal", AttrValue::Bool(true)),
        )
        .unwrap();
    let o = lin(&mut g, &mut p, "o", a, d, d);
    let s1 = g.add_op("s1", Op::Add, vec![x, o], Attrs::new()).unwrap();
    let n1 = g
        .add_op("n1", Op::LayerNorm, vec![s1], Attrs::new())
        .unwrap();
    let f1 = lin(&mut g, &mut p, "f1", n1, 4 * d, d);
    let ge = g.add_op("ge", Op::Gelu, vec![f1], Attrs::new()).unwrap();
    let f2 = lin(&mut g, &mut p, "f2", ge, d, 4 * d);
    let s2 = g.add_op("s2", Op::Add, vec![n1, f2], Attrs::new()).unwrap();
    let y = g
        .add_op("y", Op::LayerNorm, vec![s2], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    (g, p, vec![b, s, d])
}

/// x [B, C, H, W] -> conv-relu, two residual blocks (conv-relu-conv + skip, relu), global average
/// pool, linear head of 10.
fn resnet(b: usize, c: usize, hw: usize) -> (Graph, Params, Vec<usize>) {
    let mut rng = Rng(2);
    let mut g = Graph::new("resnet");
    let mut p = Params::new();
    let x = g.add_input(
        "x",
        Shape::known(&[b as u64, 3, hw as u64, hw as u64]),
        DType::F32,
    );
    let pad = Attrs::new().with("padding", AttrValue::Int(1));
    let mut conv = |g: &mut Graph, p: &mut Params, name: &str, x: usize, i: usize| {
        let w = param(g, p, &mut rng, &format!("{name}.w"), &[c, i, 3, 3]);
        let bb = param(g, p, &mut rng, &format!("{name}.b"), &[c]);
        g.add_op(name, Op::Conv2d, vec![x, w, bb], pad.clone())
            .unwrap()
    };
    let stem = conv(&mut g, &mut p, "stem", x, 3);
    let mut h = g.add_op("r0", Op::Relu, vec![stem], Attrs::new()).unwrap();
    for blk in 0..2 {
        let c1 = conv(&mut g, &mut p, &format!("b{blk}.c1"), h, c);
        let a1 = g
            .add_op(format!("b{blk}.a1"), Op::Relu, vec![c1], Attrs::new())
            .unwrap();
        let c2 = conv(&mut g, &mut p, &format!("b{blk}.c2"), a1, c);
        let sum = g
            .add_op(format!("b{blk}.sum"), Op::Add, vec![h, c2], Attrs::new())
            .unwrap();
        h = g
            .add_op(format!("b{blk}.out"), Op::Relu, vec![sum], Attrs::new())
            .unwrap();
    }
    let pool = g
        .add_op("pool", Op::GlobalAvgPool, vec![h], Attrs::new())
        .unwrap();
    let flat = g
        .add_op("flat", Op::Flatten, vec![pool], Attrs::new())
        .unwrap();
    let w = param(&mut g, &mut p, &mut rng, "fc.w", &[10, c]);
    let y = g
        .add_op("y", Op::Linear, vec![flat, w], Attrs::new())
        .unwrap();
    g.add_output("y", y);
    (g, p, vec![b, 3, hw, hw])
}

fn modes(label: &str, (g, p, shape): (Graph, Params, Vec<usize>)) {
    let mut rng = Rng(3);
    let x = rng.array(&shape, 1.0);
    let inputs = BTreeMap::from([("x".to_string(), Tensor::F64(x))]);
    let out = g.outputs[0].1;
    let forward = median_ms(|| {
        denote(&g, &p, &inputs).unwrap();
    });
    let reverse = median_ms(|| {
        let values = denote(&g, &p, &inputs).unwrap();
        let ones = values.node(out).unwrap().to_f64().mapv(|_| 1.0);
        backward_from(&g, &values, out, Some(&ones)).unwrap();
    });
    let seeds = Seeds {
        inputs: BTreeMap::from([("x".to_string(), rng.array(&shape, 1.0))]),
        params: BTreeMap::new(),
    };
    let fwd_mode = median_ms(|| {
        let values = denote(&g, &p, &inputs).unwrap();
        forward_tangents(&g, &values, &seeds).unwrap();
    });
    println!("| {label} | {forward:.3} | {reverse:.3} | {fwd_mode:.3} |");
}

fn acas() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec-examples/weights");
    if !dir.join("acas_w0.npy").exists() {
        println!("ACAS Xu: spec-examples/weights missing, skipped");
        return;
    }
    let mut g = Graph::new("acas");
    let mut p = Params::new();
    let mut h = g.add_input("x", Shape::known(&[1, 5]), DType::F32);
    for l in 0..7 {
        let w = tl_kernels::payload::npy::read(&dir.join(format!("acas_w{l}.npy"))).unwrap();
        let b = tl_kernels::payload::npy::read(&dir.join(format!("acas_b{l}.npy"))).unwrap();
        let dims: Vec<u64> = w.shape().iter().map(|&d| d as u64).collect();
        let wi = g.add_param(format!("w{l}"), Shape::known(&dims), DType::F32);
        let bi = g.add_param(format!("b{l}"), Shape::known(&[dims[0]]), DType::F32);
        p.insert(format!("w{l}"), w);
        p.insert(format!("b{l}"), b);
        let name = if l == 6 {
            "y".to_string()
        } else {
            format!("z{l}")
        };
        h = g
            .add_op(&name, Op::Linear, vec![h, wi, bi], Attrs::new())
            .unwrap();
        if l < 6 {
            h = g
                .add_op(format!("h{l}"), Op::Relu, vec![h], Attrs::new())
                .unwrap();
        }
    }
    g.add_output("y", h);
    for (label, lo, hi) in [
        (
            "coc_bounded box",
            [-0.3, -0.5, -0.5, 0.3, 0.3],
            [0.3, 0.5, 0.5, 0.5, 0.5],
        ),
        (
            "local box (width 0.01)",
            [0.1, -0.1, -0.1, 0.35, 0.35],
            [0.11, -0.09, -0.09, 0.36, 0.36],
        ),
    ] {
        let lo = ArrayD::from_shape_vec(IxDyn(&[1, 5]), lo.to_vec()).unwrap();
        let hi = ArrayD::from_shape_vec(IxDyn(&[1, 5]), hi.to_vec()).unwrap();
        let boxes = BTreeMap::from([("x".to_string(), (lo.clone(), hi.clone()))]);
        let mut bound = 0.0;
        let ms = median_ms(|| {
            bound = jacobian_enclosure(&g, &p, &boxes, "x", "y")
                .unwrap()
                .linf_norm_bound(&[true; 5]);
        });
        let mut rng = Rng(4);
        let mut sampled = 0.0f64;
        let s = Instant::now();
        for _ in 0..1000 {
            let x = &lo + &((&hi - &lo) * rng.array(&[1, 5], 0.5).mapv(|v| v + 0.5));
            let inputs = BTreeMap::from([("x".to_string(), Tensor::F64(x))]);
            let mut rows = [0.0f64; 5];
            for j in 0..5 {
                let mut e = ArrayD::zeros(IxDyn(&[1, 5]));
                e[[0, j]] = 1.0;
                let seeds = Seeds {
                    inputs: BTreeMap::from([("x".to_string(), e)]),
                    params: BTreeMap::new(),
                };
                let t = jvp(&g, &p, &inputs, "y", &seeds).unwrap().tangent;
                for (r, v) in rows.iter_mut().zip(t.iter()) {
                    *r += v.abs();
                }
            }
            sampled = rows.iter().copied().fold(sampled, f64::max);
        }
        let sample_ms = s.elapsed().as_secs_f64() * 1e3;
        println!(
            "| ACAS Xu, {label} | {ms:.2} ms | {bound:.4e} | {sampled:.4e} (1000 points, {sample_ms:.0} ms) | {:.0}x |",
            bound / sampled
        );
    }
}

fn main() {
    if cfg!(debug_assertions) {
        println!("note: debug assertions on; numbers are pessimistic");
    }
    println!("| graph | f64 forward (ms) | reverse mode: forward + VJP (ms) | forward mode: forward + one JVP (ms) |");
    println!("|---|---|---|---|");
    modes("encoder layer, x [8, 32, 64]", encoder(8, 32, 64));
    modes(
        "ResNet-style CNN, x [8, 3, 32, 32], 16 channels",
        resnet(8, 16, 32),
    );
    println!();
    println!(
        "| Lipschitz (linf) | enclosure time | enclosure bound | sampled lower bound | ratio |"
    );
    println!("|---|---|---|---|---|");
    acas();
}
