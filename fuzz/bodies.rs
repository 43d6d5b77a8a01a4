//! The bodies of the fuzz targets, shared by `cargo +nightly fuzz` (fuzz/fuzz_targets/*.rs) and
//! the stable smoke test that CI runs (tests/e2e/fuzz_smoke.rs). Each takes arbitrary bytes and
//! must return without panicking, hanging or aborting; bad input is a coded error, never a crash.
//! Where a parser accepts the input, a few invariants are asserted as well.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// Every target by name, for the smoke test and the script.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("check", check),
    ("onnx", onnx),
    ("npy", npy),
    ("safetensors", safetensors),
    ("vnnlib", vnnlib),
    ("torchlean", torchlean),
    ("lsp_framing", lsp_framing),
];

/// Where each target's seeds come from (directories relative to the repository root, and the
/// file extension), besides its own `fuzz/seeds/<target>/`. Files over `MAX_SEED_BYTES` are left
/// out. `scripts/fuzz.sh` copies them into `fuzz/corpus/<target>/`; the smoke test reads them here.
pub const SEEDS: &[(&str, &[(&str, &str)])] = &[
    (
        "check",
        &[("spec-examples", "tl"), ("tests/fixtures/broken", "tl")],
    ),
    ("onnx", &[("tests/fixtures/onnx", "onnx")]),
    (
        "npy",
        &[
            ("spec-examples/weights", "npy"),
            ("spec-examples/data", "npy"),
            ("tests/fixtures/onnx", "npy"),
        ],
    ),
    ("safetensors", &[("spec-examples/weights", "safetensors")]),
    ("vnnlib", &[("spec-examples/data", "vnnlib")]),
    ("torchlean", &[("tests/fixtures/torchlean", "json")]),
    ("lsp_framing", &[]),
];

pub const MAX_SEED_BYTES: u64 = 256 * 1024;

/// The seed files of `target` under the repository `root`, sorted.
pub fn seed_files(root: &Path, target: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<(PathBuf, Option<&str>)> = vec![(root.join("fuzz/seeds").join(target), None)];
    for (t, list) in SEEDS {
        if *t == target {
            dirs.extend(list.iter().map(|(d, e)| (root.join(d), Some(*e))));
        }
    }
    let mut out = Vec::new();
    for (dir, ext) in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let ext_ok = ext.is_none_or(|x| p.extension().is_some_and(|pe| pe == x));
            let small = e
                .metadata()
                .is_ok_and(|m| m.is_file() && m.len() <= MAX_SEED_BYTES);
            if ext_ok && small {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A private scratch directory for targets whose code reads files.
fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("tl-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

fn write(path: &Path, data: &[u8]) {
    let mut f = std::fs::File::create(path).expect("scratch file");
    f.write_all(data).expect("scratch write");
}

/// The parser and every analysis: bytes in, diagnostics out, through the same door `tlc check`
/// uses (`tl_ide`: the file loaded with its UTF-8/BOM/NUL checks, then `Analysis::diagnostics`).
/// Every diagnostic is coded and its span lies inside the text on character boundaries (the
/// renderer slices the text there).
pub fn check(data: &[u8]) {
    let path = scratch().join("fuzz.tl");
    write(&path, data);
    let mut host = tl_ide::AnalysisHost::new();
    let mut change = tl_ide::Change::new();
    change.load_file(&path);
    host.apply_change(change);
    let analysis = host.analysis();
    let here = tl_ide::normalize_path(&path);
    let text = match analysis
        .load_error(&path)
        .expect("nothing changes while checking")
    {
        None => analysis
            .file_text(&path)
            .expect("nothing changes while checking"),
        Some(_) => String::from_utf8_lossy(data).into_owned(),
    };
    for d in analysis
        .diagnostics(&path)
        .expect("nothing changes while checking")
    {
        assert!(d.code > 0, "uncoded diagnostic: {}", d.message);
        for span in std::iter::once(&d.range).chain(d.related.iter().map(|(s, _)| s)) {
            if span.path != here {
                continue;
            }
            let (s, e) = (span.range.start as usize, span.range.end as usize);
            assert!(
                s <= e && e <= text.len(),
                "TL{:04} span {s}..{e} outside {} bytes",
                d.code,
                text.len()
            );
            assert!(
                text.is_char_boundary(s) && text.is_char_boundary(e),
                "TL{:04} span {s}..{e} not on character boundaries",
                d.code
            );
        }
    }
}

/// ONNX import: decode the protobuf, then import the graph into tl's IR.
pub fn onnx(data: &[u8]) {
    let dir = scratch();
    let Ok(model) = tl_kernels::onnx::decode_model(Path::new("fuzz.onnx"), &dir, data) else {
        return;
    };
    let _ = tl_kernels::onnx::import(&model);
}

/// .npy: header and data; an accepted array has as many values as its shape says.
pub fn npy(data: &[u8]) {
    let _ = tl_kernels::payload::npy::parse_header_bytes("fuzz.npy", "x", data);
    if let Ok(t) = tl_kernels::payload::npy::parse("fuzz.npy", "x", data) {
        let n: usize = t.shape().iter().product();
        assert_eq!(t.to_f64().len(), n, "shape {:?}", t.shape());
    }
}

/// .safetensors: the header (mapped from a file, as tl reads weights) and every tensor's data.
pub fn safetensors(data: &[u8]) {
    use tl_kernels::payload::safetensors::SafeTensorsFile;
    let path = scratch().join("fuzz.safetensors");
    write(&path, data);
    let _ = tl_kernels::payload::inspect(&path);
    if let Ok(f) = SafeTensorsFile::open(&path) {
        for info in f.infos() {
            if let Ok(t) = f.tensor(&info.name) {
                assert_eq!(t.shape(), info.shape.as_slice(), "{}", info.name);
            }
        }
    }
}

/// VNN-LIB: the 1.0 reader, the 2.0 reader, and `parse`, which picks one.
pub fn vnnlib(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tl_bounds::vnnlib::parse(text);
    let _ = tl_bounds::vnnlib::parse_v1(text);
    let _ = tl_bounds::vnnlib2::parse(text);
}

/// TorchLean JSON import into tl's IR.
pub fn torchlean(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tl_kernels::torchlean::import_str(text, "fuzzed");
}

/// The language server's message framing (`tl_lsp::framing::guard`, in front of the protocol
/// reader): whatever arrives, what comes out is a sequence of well-framed JSON-RPC 2.0 messages.
pub fn lsp_framing(data: &[u8]) {
    use tokio::io::AsyncReadExt;
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
    }
    let input = std::io::Cursor::new(data.to_vec());
    let out = RT.with(|rt| {
        rt.block_on(async move {
            let mut reader = tl_lsp::framing::guard(input);
            let mut out = Vec::new();
            reader
                .read_to_end(&mut out)
                .await
                .expect("read the guarded stream");
            out
        })
    });
    let mut rest = out.as_slice();
    while !rest.is_empty() {
        let header_end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header");
        let header = std::str::from_utf8(&rest[..header_end]).expect("ASCII header");
        let len: usize = header
            .strip_prefix("Content-Length: ")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad header {header:?}"));
        let body = &rest[header_end + 4..header_end + 4 + len];
        let v: serde_json::Value = serde_json::from_slice(body).expect("JSON body");
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
        rest = &rest[header_end + 4 + len..];
    }
}
