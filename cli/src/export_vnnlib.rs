//! `tlc export vnnlib SPEC CONTRACT [--version 1|2] [-o FILE]`: a contract's claim as a VNN-LIB
//! property, so another verifier can check it: the input set as the box tl's bound methods use
//! (symbolic extents 1) and the negated claim as the unsafe set, over the graph's input and its
//! first output. 2.0 declares one network `N` with `X` and `Y` as float32 tensors of the graph's
//! shapes (tl's bounds are sound for f32 executors, so the same answer is asked for); 1.0 is flat.
//! Pair it with `tlc export onnx SPEC --graph G` for the model. A claim about another node, or of
//! a kind VNN-LIB cannot state (equivalence, gradients, two networks), is refused (TL0581).

use tl_bounds::vnnlib2::{self, ElemType};
use tl_ide::verify::{claims, instantiate, Claim, Failure, VerifyOptions};
use tl_ide::Severity;

use crate::exit;
use crate::export::ExportArgs;
use crate::run::CliError;

fn refuse(msg: impl Into<String>) -> CliError {
    CliError::new("TL0581", msg, exit::FINDINGS)
}

fn known(shape: &tl_ir::Shape) -> Result<Vec<usize>, CliError> {
    shape
        .as_known()
        .map(|s| s.iter().map(|&d| d as usize).collect())
        .ok_or_else(|| refuse(format!("shape {shape} is not concrete")))
}

pub fn run(args: &ExportArgs) -> Result<(), CliError> {
    let name = args.contract.as_deref().ok_or_else(|| {
        CliError::new(
            "TL0582",
            "tlc export vnnlib needs a contract: tlc export vnnlib SPEC CONTRACT",
            exit::USAGE,
        )
    })?;
    if args.graph.is_some() || !args.dims.is_empty() {
        return Err(CliError::new(
            "TL0582",
            "tlc export vnnlib takes a spec and a contract (the graph is the contract's)",
            exit::USAGE,
        ));
    }
    let mut host = tl_ide::AnalysisHost::new();
    let mut change = tl_ide::Change::new();
    change.load_file(&args.spec);
    host.apply_change(change);
    // Load what the specs import (the queries never read the disk).
    host.settle(&[args.spec.clone()]);
    let analysis = host.analysis();
    if let Some(e) = crate::uncancelled(analysis.load_error(&args.spec)) {
        return Err(CliError::new(
            "TL0120",
            format!("cannot read {}: {e}", args.spec.display()),
            exit::USAGE,
        ));
    }
    let errors = crate::uncancelled(analysis.diagnostics(&args.spec))
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        return Err(CliError::new(
            "TL0533",
            format!(
                "{} has {errors} error(s); fix them before exporting (see `tlc check`)",
                args.spec.display()
            ),
            exit::FINDINGS,
        ));
    }
    let p = crate::uncancelled(analysis.contracts(&args.spec))
        .into_iter()
        .find(|c| c.name == name)
        .and_then(|c| crate::uncancelled(analysis.prepare_contract(&c, &VerifyOptions::default())))
        .ok_or_else(|| {
            CliError::new(
                "TL0581",
                format!("{} has no contract `{name}`", args.spec.display()),
                exit::USAGE,
            )
        })?;
    let fail = |f: Failure| CliError::new(f.code, f.message, exit::FINDINGS);
    let claim = p
        .claim
        .clone()
        .ok_or_else(|| refuse(format!("contract `{name}` has no claim")))?;
    let property = match &claim {
        Claim::VnnLib { .. } => {
            let path = p.vnnlib.clone().ok_or_else(|| refuse("no VNN-LIB file"))?;
            tl_bounds::vnnlib::load(&path).map_err(|e| refuse(e.to_string()))?
        }
        Claim::Argmax { .. } | Claim::Linear { .. } | Claim::All(_) => {
            let model = p.model.clone().map_err(fail)?;
            let graph = instantiate(&model.graph, 1).map_err(fail)?;
            if graph.inputs.len() != 1 {
                return Err(refuse(format!(
                    "graph {} has {} inputs; VNN-LIB 1.0 states one",
                    graph.name,
                    graph.inputs.len()
                )));
            }
            let input = &graph.nodes[graph.inputs[0]];
            let node = claims::claim_node(&claim).map_err(fail)?;
            let (first, out_id) = graph
                .outputs
                .first()
                .cloned()
                .ok_or_else(|| refuse("the graph has no output"))?;
            if node != first {
                return Err(refuse(format!(
                    "the claim is about `{node}`, not the graph's first output `{first}` (the exported model's output)"
                )));
            }
            let shape = known(&graph.nodes[out_id].shape)?;
            let rows = claims::rows(&claim, &node, &shape).map_err(fail)?;
            let set = p
                .inputs
                .iter()
                .find(|(n, _)| n.is_none() || n.as_deref() == Some(input.name.as_str()))
                .map(|(_, s)| s)
                .ok_or_else(|| refuse(format!("input `{}` has no `given` set", input.name)))?;
            let b = set.to_box(&known(&input.shape)?).map_err(fail)?;
            rows.property(b)
        }
        other => {
            return Err(refuse(format!(
                "a {} contract has no VNN-LIB form (VNN-LIB states input boxes and output constraints of one network)",
                other.kind()
            )))
        }
    };
    let text = if args.vnnlib_version == "1" {
        tl_bounds::vnnlib::write_v1(&property)
    } else {
        let mut q = vnnlib2::from_property(&property);
        let (xs, ys) = match (&claim, p.model.as_ref()) {
            (Claim::VnnLib { .. }, _) | (_, Err(_)) => {
                (vec![property.n_inputs], vec![property.n_outputs])
            }
            (_, Ok(m)) => {
                let g = instantiate(&m.graph, 1).map_err(fail)?;
                (
                    known(&g.nodes[g.inputs[0]].shape)?,
                    known(&g.nodes[g.outputs[0].1].shape)?,
                )
            }
        };
        vnnlib2::shape_single(&mut q, ElemType::Float32, &xs, &ys);
        vnnlib2::write(&q)
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            CliError::new(
                "TL0541",
                format!("cannot write {}: {e}", path.display()),
                exit::USAGE,
            )
        }),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
