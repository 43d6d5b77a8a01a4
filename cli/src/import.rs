//! `tlc import onnx|torchlean`: write a readable spec for a model. ONNX specs load their params
//! from the model's initializers (`params from "net.onnx"`); TorchLean artifacts carry their
//! weights inline, so they are written to a `.safetensors` file beside the spec.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use clap::Args;
use tl_ide::interchange::{load_onnx, with_initializer_params, write_spec, WeightsRef};
use tl_kernels::Tensor;

use crate::exit;
use crate::run::CliError;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  tlc import onnx net.onnx -o net.tl\n  tlc import torchlean graph.json -o model.tl   (also writes model.safetensors)\n  tlc import vnnlib prop_1.vnnlib --model net.onnx -o prop_1.tl"
)]
pub struct ImportArgs {
    /// `onnx`, `torchlean` (a torchlean.ir.v1 JSON graph) or `vnnlib` (a property; with --model).
    #[arg(value_parser = ["onnx", "torchlean", "vnnlib"])]
    pub format: String,
    /// The model file (for `vnnlib`: the property file).
    pub model: PathBuf,
    /// For `vnnlib`: the ONNX network the property is about.
    #[arg(
        long = "model",
        value_name = "NET.onnx",
        required_if_eq("format", "vnnlib")
    )]
    pub network: Option<PathBuf>,
    /// For `vnnlib`: the branch-and-bound time limit of the contract, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// The spec to write (standard output when absent; required for torchlean).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

pub fn run(args: ImportArgs) -> u8 {
    let result = match args.format.as_str() {
        "onnx" => import_onnx(&args),
        "vnnlib" => crate::vnncomp::import_vnnlib(
            &args.model,
            args.network.as_deref().unwrap_or(Path::new("")),
            args.timeout,
            |p| relative_to_spec(p, args.output.as_deref()),
        )
        .and_then(|text| emit(&text, args.output.as_deref())),
        _ => import_torchlean(&args),
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) => e.print(),
    }
}

/// `target` as written from the directory the spec lives in.
fn relative_to_spec(target: &Path, spec: Option<&Path>) -> String {
    let abs = |p: &Path| tl_ide::normalize_path(p);
    let Some(spec) = spec else {
        return target.display().to_string();
    };
    let target = abs(target);
    let base = abs(spec)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let t: Vec<Component> = target.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c.as_os_str());
    }
    rel.to_string_lossy().replace('\\', "/")
}

fn emit(text: &str, output: Option<&Path>) -> Result<(), CliError> {
    match output {
        Some(p) => std::fs::write(p, text).map_err(|e| {
            CliError::new(
                "TL0541",
                format!("cannot write {}: {e}", p.display()),
                exit::USAGE,
            )
        }),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn import_onnx(args: &ImportArgs) -> Result<(), CliError> {
    let model = load_onnx(&args.model)
        .map_err(|e| CliError::new(format!("TL{:04}", e.code), e.message, exit::FINDINGS))?;
    let graph =
        with_initializer_params(&model).map_err(|e| CliError::new("TL0540", e, exit::FINDINGS))?;
    let file = relative_to_spec(&args.model, args.output.as_deref());
    let doc = format!(
        "Imported by `tlc import onnx` from `{}` (opset {}{}).\nParams are the model's initializers, read from the file.",
        args.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        model.opset,
        if model.producer.is_empty() { String::new() } else { format!(", produced by {}", model.producer) },
    );
    let text = write_spec(
        &graph,
        &WeightsRef {
            file,
            keys: BTreeMap::new(),
        },
        &doc,
    )
    .map_err(|e| CliError::new("TL0540", e.0, exit::FINDINGS))?;
    emit(&text, args.output.as_deref())
}

fn import_torchlean(args: &ImportArgs) -> Result<(), CliError> {
    let Some(output) = args.output.as_deref() else {
        return Err(CliError::new(
            "TL0541",
            "tlc import torchlean writes the weights beside the spec: give -o OUT.tl",
            exit::USAGE,
        ));
    };
    let text = std::fs::read_to_string(&args.model).map_err(|e| {
        CliError::new(
            "TL0550",
            format!("cannot read {}: {e}", args.model.display()),
            exit::USAGE,
        )
    })?;
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let imported = tl_kernels::torchlean::import_str(&text, &stem)
        .map_err(|e| CliError::new(e.code(), e.to_string(), exit::FINDINGS))?;
    let weights_path = output.with_extension("safetensors");
    if !imported.payload.is_empty() {
        write_safetensors(&weights_path, &imported.payload)?;
    }
    let doc = format!(
        "Imported by `tlc import torchlean` from `{}` (torchlean.ir.v1); weights in `{}`.",
        args.model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        weights_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let file = relative_to_spec(&weights_path, Some(output));
    let spec = write_spec(
        &imported.graph,
        &WeightsRef {
            file,
            keys: BTreeMap::new(),
        },
        &doc,
    )
    .map_err(|e| CliError::new("TL0540", e.0, exit::FINDINGS))?;
    emit(&spec, Some(output))
}

/// Writes f32 tensors (the engines' parameter type) to a safetensors file.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, Tensor>) -> Result<(), CliError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(k, t)| {
            let data: Vec<u8> = t.to_f32().iter().flat_map(|x| x.to_le_bytes()).collect();
            (k.clone(), t.shape().to_vec(), data)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, shape, data)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|v| (k.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            CliError::new(
                "TL0541",
                format!("cannot encode weights: {e}"),
                exit::FINDINGS,
            )
        })?;
    safetensors::tensor::serialize_to_file(views, Some(HashMap::new()), path).map_err(|e| {
        CliError::new(
            "TL0541",
            format!("cannot write {}: {e}", path.display()),
            exit::USAGE,
        )
    })
}
