//! A Transformer encoder block written as ONNX at test time (random weights, never committed):
//! layer norm, single-head self-attention (matmul of two activations, softmax), a residual, a
//! second layer norm and a GELU feed-forward with its residual. Imported by a spec, its output
//! range over a small L-infinity ball is `checked` by ibp and by crown (the range taken from
//! `tlc bounds`, whose sampled outputs must lie inside it), and a range that excludes the
//! centre's output is `falsified` with a counterexample the compiled executor replays.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::{run_in, write_npy, TempDir};

const L: i64 = 4;
const D: i64 = 8;
const HIDDEN: i64 = 16;

struct Rand(u64);
impl Rand {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    }
}

fn encoder_onnx(path: &Path, rng: &mut Rand) {
    use prost::Message;
    use tl_kernels::onnx::proto::{
        attribute_proto::AttributeType, tensor_proto::DataType,
        tensor_shape_proto::dimension::Value as Dv, tensor_shape_proto::Dimension, type_proto,
        AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
        TensorShapeProto, TypeProto, ValueInfoProto,
    };
    let value = |name: &str| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto {
                    dim: [1, L, D]
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(Dv::DimValue(d)),
                            denotation: String::new(),
                        })
                        .collect(),
                }),
            })),
            denotation: String::new(),
        }),
        ..Default::default()
    };
    let mut inits = Vec::new();
    let mut init = |name: &str, dims: &[i64], scale: f32, offset: f32| {
        let n: i64 = dims.iter().product();
        inits.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: DataType::Float as i32,
            float_data: (0..n).map(|_| offset + scale * rng.next()).collect(),
            ..Default::default()
        });
    };
    let s = 1.0 / (D as f32).sqrt();
    init("ln1.w", &[D], 0.2, 1.0);
    init("ln1.b", &[D], 0.1, 0.0);
    init("wq", &[D, D], s, 0.0);
    init("wk", &[D, D], s, 0.0);
    init("wv", &[D, D], s, 0.0);
    init("scale", &[], 0.0, (D as f32).sqrt());
    init("ln2.w", &[D], 0.2, 1.0);
    init("ln2.b", &[D], 0.1, 0.0);
    init("w1", &[D, HIDDEN], s, 0.0);
    init("b1", &[HIDDEN], 0.1, 0.0);
    init("w2", &[HIDDEN, D], 1.0 / (HIDDEN as f32).sqrt(), 0.0);
    let attr_int = |name: &str, i: i64| AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    };
    let node = |op: &str, ins: &[&str], out: &str, attribute: Vec<AttributeProto>| NodeProto {
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: vec![out.into()],
        op_type: op.into(),
        attribute,
        ..Default::default()
    };
    let eps = AttributeProto {
        name: "epsilon".into(),
        r#type: AttributeType::Float as i32,
        f: 1e-5,
        ..Default::default()
    };
    let nodes = vec![
        node(
            "LayerNormalization",
            &["x", "ln1.w", "ln1.b"],
            "n1",
            vec![attr_int("axis", -1), eps.clone()],
        ),
        node("MatMul", &["n1", "wq"], "q", vec![]),
        node("MatMul", &["n1", "wk"], "k", vec![]),
        node("MatMul", &["n1", "wv"], "v", vec![]),
        node(
            "Transpose",
            &["k"],
            "kt",
            vec![AttributeProto {
                name: "perm".into(),
                r#type: AttributeType::Ints as i32,
                ints: vec![0, 2, 1],
                ..Default::default()
            }],
        ),
        node("MatMul", &["q", "kt"], "s", vec![]),
        node("Div", &["s", "scale"], "ss", vec![]),
        node("Softmax", &["ss"], "p", vec![attr_int("axis", -1)]),
        node("MatMul", &["p", "v"], "ctx", vec![]),
        node("Add", &["x", "ctx"], "r", vec![]),
        node(
            "LayerNormalization",
            &["r", "ln2.w", "ln2.b"],
            "n2",
            vec![attr_int("axis", -1), eps],
        ),
        node("MatMul", &["n2", "w1"], "u", vec![]),
        node("Add", &["u", "b1"], "ub", vec![]),
        node("Gelu", &["ub"], "g", vec![]),
        node("MatMul", &["g", "w2"], "f", vec![]),
        node("Add", &["r", "f"], "y", vec![]),
    ];
    let model = ModelProto {
        ir_version: 9,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 20,
        }],
        producer_name: "tl e2e".into(),
        graph: Some(GraphProto {
            name: "encoder".into(),
            node: nodes,
            initializer: inits,
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec()).unwrap();
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// `tlc bounds` of the encoder on the ball: (lower, upper) row-major.
fn bounds(dir: &Path, method: &str, eps: &str) -> (Vec<f64>, Vec<f64>) {
    let (code, out, err) = run_in(
        dir,
        &[
            "bounds", "use.tl", "--graph", "enc", "--method", method, "--input", "x=c.npy",
            "--eps", eps, "--format", "json",
        ],
    );
    assert_eq!(code, 0, "{method}: {out}{err}");
    let v = json(&out);
    let y = &v["outputs"]["y"];
    (floats(&y["lower"]), floats(&y["upper"]))
}

/// `tlc run` of the encoder at `x` (written to `name`).
fn run_at(dir: &Path, name: &str, x: &[f32], engine: &str) -> Vec<f64> {
    write_npy(&dir.join(name), &[1, L as usize, D as usize], x);
    let input = format!("x={name}");
    let (code, out, err) = run_in(
        dir,
        &[
            "run", "use.tl", "--graph", "enc", "--input", &input, "--engine", engine, "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    floats(&json(&out)["outputs"]["y"]["data"])
}

#[test]
fn an_onnx_transformer_encoder_gets_a_checked_output_range() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rand(seed);
    let dir = TempDir::new("transformer_bounds");
    encoder_onnx(&dir.0.join("enc.onnx"), &mut rng);
    std::fs::write(dir.0.join("use.tl"), "import onnx \"enc.onnx\" as enc\n").unwrap();
    let n = (L * D) as usize;
    let centre: Vec<f32> = (0..n).map(|_| rng.next()).collect();
    write_npy(&dir.0.join("c.npy"), &[1, L as usize, D as usize], &centre);
    let eps = 1e-3;
    let (ibp_lo, ibp_hi) = bounds(&dir.0, "ibp", "0.001");
    let (crown_lo, crown_hi) = bounds(&dir.0, "crown", "0.001");

    // Sampled outputs (both executors) lie inside both boxes; the boxes are not vacuous.
    let mut centre_y = Vec::new();
    for trial in 0..6 {
        let x: Vec<f32> = centre
            .iter()
            .map(|&c| match trial {
                0 => c,
                1 => c - eps as f32 * 0.999,
                2 => c + eps as f32 * 0.999,
                _ => c + eps as f32 * 0.999 * rng.next(),
            })
            .collect();
        for engine in ["reference", "compiled"] {
            let y = run_at(&dir.0, &format!("s{trial}.npy"), &x, engine);
            for j in 0..n {
                for (what, lo, hi) in [("ibp", &ibp_lo, &ibp_hi), ("crown", &crown_lo, &crown_hi)] {
                    assert!(
                        lo[j] <= y[j] && y[j] <= hi[j],
                        "seed {seed}: {what} [{}, {}] misses the {engine} output {} at {j}",
                        lo[j],
                        hi[j],
                        y[j]
                    );
                }
            }
            if trial == 0 && engine == "reference" {
                centre_y = y;
            }
        }
    }
    let widest =
        |lo: &[f64], hi: &[f64]| lo.iter().zip(hi).map(|(l, h)| h - l).fold(0.0f64, f64::max);
    assert!(
        widest(&crown_lo, &crown_hi) < 2.0,
        "seed {seed}: CROWN box too wide: {}",
        widest(&crown_lo, &crown_hi)
    );
    assert!(
        widest(&ibp_lo, &ibp_hi) < 20.0,
        "seed {seed}: IBP box too wide: {}",
        widest(&ibp_lo, &ibp_hi)
    );

    // The contracts: each range from its own method's bounds, padded by 1e-6 per element so
    // the claim holds strictly; a claim below the centre's own output fails.
    let claim = |lo: &[f64], hi: &[f64]| {
        let low = lo.iter().copied().fold(f64::INFINITY, f64::min) - 1e-6;
        let high = hi.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 1e-6;
        format!("all(y >= {low:.9}) && all(y <= {high:.9})")
    };
    let below = centre_y[0] - 0.25 * (crown_hi[0] - crown_lo[0]).max(1e-4);
    let spec = format!(
        "import onnx \"enc.onnx\" as enc

contract range_by_ibp on enc {{
  given x in linf_ball(load(\"c.npy\"), eps = 0.001)
  ensure {}
  check by ibp
}}

contract range_by_crown on enc {{
  given x in linf_ball(load(\"c.npy\"), eps = 0.001)
  ensure {}
  check by crown
}}

contract first_output_below_its_centre_value on enc {{
  given x in linf_ball(load(\"c.npy\"), eps = 0.001)
  ensure y[0, 0, 0] <= {below:.9}
  check by ibp then bab(timeout = 20s)
}}
",
        claim(&ibp_lo, &ibp_hi),
        claim(&crown_lo, &crown_hi)
    );
    std::fs::write(dir.0.join("use.tl"), spec).unwrap();
    std::fs::write(dir.0.join("tl.toml"), "roots = [\".\"]\n").unwrap();
    let cache = TempDir::new("transformer_bounds_cache");
    let cache_dir = cache.0.to_string_lossy().into_owned();
    let (_, out, err) = run_in(
        &dir.0,
        &[
            "verify",
            "--cache-dir",
            &cache_dir,
            "--format",
            "json",
            "--quiet",
        ],
    );
    let report = json(&out);
    let contract = |name: &str| {
        report["contracts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no contract {name}: {out}{err}"))
            .clone()
    };
    // The method's evidence is checked; the contract's own status is capped by the data link
    // (an imported ONNX file is external data: uncovered without an `environment` assumption).
    let c = contract("range_by_ibp");
    assert_eq!(c["evidence_status"], "checked", "seed {seed}: {c}");
    assert_eq!(
        c["methods"][0]["verdict"]["verdict"], "holds",
        "seed {seed}: {c}"
    );
    // The CROWN box itself is claimed: CROWN holds, but a verdict counts only when the
    // independent checker (looser: interval layers for products and softmax) confirms it. It is
    // then checked; otherwise unknown with TL0608, never checked on CROWN's word alone.
    let c = contract("range_by_crown");
    let verdict = &c["methods"][0]["verdict"];
    if c["evidence_status"] == "checked" {
        assert_eq!(verdict["verdict"], "holds", "seed {seed}: {c}");
        assert!(c.to_string().contains("re-checks independently"), "{c}");
    } else {
        assert_eq!(verdict["verdict"], "unknown", "seed {seed}: {c}");
        assert!(
            verdict["reason"].as_str().unwrap().contains("TL0608"),
            "{c}"
        );
        assert!(
            verdict["reason"]
                .as_str()
                .unwrap()
                .contains("CROWN bounds exclude"),
            "{c}"
        );
    }
    let f = contract("first_output_below_its_centre_value");
    assert_eq!(f["status"], "falsified", "seed {seed}: {f}");
    // The counterexample is inside the ball, and replaying it on the compiled executor breaks
    // the claim.
    let cex = f["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| m["verdict"].get("counterexample").cloned())
        .unwrap_or_else(|| panic!("seed {seed}: no counterexample: {f}"));
    let x = floats(&cex["inputs"][0][2]);
    assert_eq!(x.len(), n);
    for (xi, ci) in x.iter().zip(&centre) {
        assert!(
            (xi - *ci as f64).abs() <= eps * (1.0 + 1e-6),
            "seed {seed}: {xi} outside the ball"
        );
    }
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let y = run_at(&dir.0, "cex.npy", &x32, "compiled");
    assert!(
        y[0] > below,
        "seed {seed}: replayed y[0] = {} does not break <= {below}",
        y[0]
    );
}
