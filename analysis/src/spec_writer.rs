//! IR graph -> readable `.tl` text: the reverse of lowering, for `tlc import onnx` and
//! `tlc import torchlean`. Names come from the graph (ONNX output names, TorchLean node names),
//! sanitised to identifiers and made unique; params keep their declared shapes and reference a
//! weight file instead of inlining values (`params from "FILE"` for params whose name is their
//! key in the file, `= load("FILE", key = "...")` for the others). The text is passed through
//! `tl_syntax::format`, so it is formatted exactly as `tlc fmt` would.

use std::collections::{BTreeMap, HashMap, HashSet};

use tl_ir::{AttrValue, Dim, Graph, NodeKind, Shape};

/// Where a written spec's params come from.
#[derive(Clone, Debug, Default)]
pub struct WeightsRef {
    /// The weight file as the spec writes it (relative to the spec).
    pub file: String,
    /// The tensor name in the file of each param key; a key absent here is its own name.
    pub keys: BTreeMap<String, String>,
}

/// Why a graph cannot be written as a spec (TL0540).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecWriteError(pub String);

impl std::fmt::Display for SpecWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

use tl_syntax::lexer::KEYWORDS;

/// An identifier made from arbitrary text: runs of other characters become `_`, a leading digit
/// gets an `n` prefix, keywords get a trailing `_`.
pub fn sanitize_ident(text: &str) -> String {
    let mut s = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    let s = s.trim_matches('_');
    let mut s = if s.is_empty() {
        "v".to_string()
    } else {
        s.to_string()
    };
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'n');
    }
    if KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// A param path made from a key: dotted segments kept (`layers.0.weight`), each sanitised.
fn sanitize_path(key: &str) -> String {
    key.split('.')
        .enumerate()
        .map(|(i, seg)| {
            if i > 0 && !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                seg.to_string()
            } else {
                sanitize_ident(seg)
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

struct Names {
    used: HashSet<String>,
}

impl Names {
    fn fresh(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut k = 1;
        while self.used.contains(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.used.insert(name.clone());
        name
    }
}

/// Writes `graph` as a formatted spec. `doc` becomes the graph's doc comment.
pub fn write_spec(
    graph: &Graph,
    weights: &WeightsRef,
    doc: &str,
) -> Result<String, SpecWriteError> {
    let mut names = Names {
        used: HashSet::new(),
    };
    let mut symbols: HashMap<String, String> = HashMap::new();
    let mut sym_names = Names {
        used: HashSet::new(),
    };
    let mut ty = |shape: &Shape, dtype: tl_ir::DType| -> String {
        if shape.rank() == 0 {
            return dtype.name().to_string();
        }
        let dims: Vec<String> = shape
            .0
            .iter()
            .map(|d| match d {
                Dim::Known(k) => k.to_string(),
                Dim::Sym(s) => symbols
                    .entry(s.clone())
                    .or_insert_with(|| sym_names.fresh(sanitize_ident(s)))
                    .clone(),
            })
            .collect();
        format!("{}[{}]", dtype.name(), dims.join(", "))
    };
    let mut node_names: Vec<String> = Vec::with_capacity(graph.nodes.len());
    let mut params = Vec::new();
    let mut body = Vec::new();
    let mut inputs = Vec::new();
    let mut from_file = false;
    for node in &graph.nodes {
        let name = match &node.kind {
            NodeKind::Param { key } => names.fresh(sanitize_path(key)),
            _ => names.fresh(sanitize_ident(&node.name)),
        };
        match &node.kind {
            NodeKind::Input => inputs.push(format!("{name}: {}", ty(&node.shape, node.dtype))),
            NodeKind::Param { key } => {
                let stored = weights.keys.get(key).unwrap_or(key);
                let decl = format!("param {name}: {}", ty(&node.shape, node.dtype));
                if *stored == name {
                    from_file = true;
                    params.push(decl);
                } else {
                    params.push(format!(
                        "{decl} = load({}, key = {})",
                        quote(&weights.file),
                        quote(stored)
                    ));
                }
            }
            NodeKind::Op { op, attrs } => {
                let mut args: Vec<String> = node
                    .parents
                    .iter()
                    .map(|&p| node_names[p].clone())
                    .collect();
                for (k, v) in &attrs.0 {
                    args.push(format!(
                        "{k} = {}",
                        attr_text(v).map_err(|e| {
                            SpecWriteError(format!("node {}: attribute {k}: {e}", node.name))
                        })?
                    ));
                }
                body.push(format!("{name} = {}({})", op.name(), args.join(", ")));
            }
        }
        node_names.push(name);
    }
    let mut outputs = Vec::new();
    for (out_name, id) in &graph.outputs {
        let node = &graph.nodes[*id];
        let wanted = sanitize_ident(out_name);
        let name = if node_names[*id] == wanted && matches!(node.kind, NodeKind::Op { .. }) {
            wanted
        } else {
            let fresh = names.fresh(wanted);
            body.push(format!("{fresh} = identity({})", node_names[*id]));
            fresh
        };
        if outputs
            .iter()
            .any(|o: &String| o.starts_with(&format!("{name}:")))
        {
            continue;
        }
        outputs.push(format!("{name}: {}", ty(&node.shape, node.dtype)));
    }
    if outputs.is_empty() {
        return Err(SpecWriteError(format!(
            "graph {} has no outputs",
            graph.name
        )));
    }
    let mut text = String::new();
    for line in doc.lines() {
        text.push_str(&format!("/// {line}\n"));
    }
    let outs = if outputs.len() == 1 {
        outputs[0].clone()
    } else {
        format!("({})", outputs.join(", "))
    };
    text.push_str(&format!(
        "graph {}({}) -> {outs} {{\n",
        sanitize_ident(&graph.name),
        inputs.join(", ")
    ));
    if from_file {
        text.push_str(&format!("params from {}\n", quote(&weights.file)));
    }
    for line in params.iter().chain(&body) {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("}\n");
    tl_syntax::format(&text).map_err(|errors| {
        SpecWriteError(format!(
            "the written spec does not parse (a writer bug): {}",
            errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn number(x: f64) -> Result<String, String> {
    if x.is_nan() {
        Err("NaN cannot be written in a spec".into())
    } else if x == f64::INFINITY {
        Ok("inf".into())
    } else if x == f64::NEG_INFINITY {
        Ok("-inf".into())
    } else {
        Ok(format!("{x:?}"))
    }
}

fn attr_text(v: &AttrValue) -> Result<String, String> {
    Ok(match v {
        AttrValue::Bool(b) => b.to_string(),
        AttrValue::Int(i) => i.to_string(),
        AttrValue::Float(x) => number(*x)?,
        AttrValue::Ints(v) => format!(
            "[{}]",
            v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ),
        AttrValue::Str(s) => quote(s),
        AttrValue::Tensor { shape, data } => {
            if data.iter().any(|x| !x.is_finite()) {
                return Err("literal tensors must be finite".into());
            }
            if shape.is_empty() {
                return number(data[0]);
            }
            fn nest(data: &[f64], shape: &[u64]) -> String {
                match shape.split_first() {
                    None => format!("{:?}", data[0]),
                    Some((&d, rest)) => {
                        let step = rest.iter().product::<u64>() as usize;
                        let items: Vec<String> = (0..d as usize)
                            .map(|k| nest(&data[k * step..(k + 1) * step], rest))
                            .collect();
                        format!("[{}]", items.join(", "))
                    }
                }
            }
            nest(data, shape)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ir::{Attrs, DType, Op};

    #[test]
    fn sanitises_names_into_identifiers() {
        assert_eq!(sanitize_ident("/fc1/Gemm_output_0"), "fc1_Gemm_output_0");
        assert_eq!(sanitize_ident("onnx::Relu_5"), "onnx_Relu_5");
        assert_eq!(sanitize_ident("23"), "n23");
        assert_eq!(sanitize_ident("in"), "in_");
        assert_eq!(sanitize_ident("ü"), "v");
        assert_eq!(sanitize_path("layers.0.weight"), "layers.0.weight");
        assert_eq!(sanitize_path("onnx::MatMul_12"), "onnx_MatMul_12");
    }

    #[test]
    fn writes_params_by_reference_and_renames_clashes() {
        let mut g = Graph::new("net");
        let x = g.add_input(
            "input.1",
            Shape(vec![Dim::Sym("batch size".into()), Dim::Known(2)]),
            DType::F32,
        );
        let w = g.add_param("fc.weight", Shape::known(&[3, 2]), DType::F32);
        let b = g.add_param("onnx::Gemm_7", Shape::known(&[3]), DType::F32);
        let h = g
            .add_op("/fc/Gemm", Op::Linear, vec![x, w, b], Attrs::new())
            .unwrap();
        let c = g
            .add_op(
                "c",
                Op::Constant,
                vec![],
                Attrs::new().with("value", AttrValue::Float(0.5)),
            )
            .unwrap();
        let y = g
            .add_op("fc_Gemm", Op::Mul, vec![h, c], Attrs::new())
            .unwrap();
        let s = g
            .add_op(
                "s",
                Op::Softplus,
                vec![y],
                Attrs::new().with("threshold", AttrValue::Float(f64::INFINITY)),
            )
            .unwrap();
        g.add_output("out", s);
        g.add_output("raw", h);
        let text = write_spec(
            &g,
            &WeightsRef {
                file: "net.onnx".into(),
                keys: BTreeMap::new(),
            },
            "Imported for a test.",
        )
        .unwrap();
        insta::assert_snapshot!(text);
    }
}
