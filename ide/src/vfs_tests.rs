//! The VFS: no query reads the disk. The same spec set up from memory, under a root that does
//! not exist, gives what it gives from disk; and the host loads exactly what queries asked for.

use std::path::{Path, PathBuf};

use crate::{AnalysisHost, Change};

const LIB: &str = r#"/// A gated linear unit.
block glu(x: f32[B, D]) -> y: f32[B, D] {
  param a.weight: f32[D, D]
  param b.weight: f32[D, D]

  a = linear(x, a.weight)
  b = linear(x, b.weight)
  y = mul(a, sigmoid(b))
}
"#;

/// Errors on purpose: through the imported spec (a block's weights not in the model), through
/// the ONNX header (names checked against the model's signature), and a good contract whose
/// static status goes through the model's coverage.
const MAIN: &str = r#"import "lib.tl" as lib
import onnx "net.onnx" as net

graph gated(x: f32[B, 3]) -> y: f32[B, 3] {
  params from "net.onnx"
  g = lib.glu(x)
  y = relu(g)
}

contract good on net {
  given x in box(0.0, 1.0)
  ensure logits[0, 0] <= 100.0
  check by crown
}

contract typo on net {
  given z in box(0.0, 1.0)
  ensure logit[0, 0] <= 100.0
  check by crown
}
"#;

fn fixture_model() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx/mlp.onnx");
    std::fs::read(path).expect("the mlp fixture")
}

/// Diagnostics and statuses of `root/main.tl`, with `root` written as `<root>`.
fn answers(host: &AnalysisHost, root: &Path) -> (String, bool) {
    let a = host.analysis();
    let main = root.join("main.tl");
    let diagnostics = a.diagnostics(&main).unwrap();
    let statuses = a.statuses_with_runs(&main, &[], &[]).unwrap();
    let hover_at = MAIN.find("glu(x)").unwrap() as u32;
    let hover = a.hover(&main, hover_at, &[]).unwrap().map(|h| h.markdown);
    let shown = format!("{diagnostics:#?}\n{statuses:#?}\n{hover:#?}");
    (
        shown.replace(&root.display().to_string(), "<root>"),
        a.has_requested().unwrap(),
    )
}

#[test]
fn analysis_from_memory_matches_analysis_from_disk() {
    let disk = std::env::temp_dir().join(format!("tl-vfs-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&disk);
    std::fs::create_dir_all(&disk).unwrap();
    std::fs::write(disk.join("main.tl"), MAIN).unwrap();
    std::fs::write(disk.join("lib.tl"), LIB).unwrap();
    std::fs::write(disk.join("net.onnx"), fixture_model()).unwrap();
    let mut from_disk = AnalysisHost::new();
    let mut change = Change::new();
    change.load_file(disk.join("main.tl"));
    from_disk.apply_change(change);
    from_disk.settle(&[disk.join("main.tl")]);
    let (expected, pending) = answers(&from_disk, &disk);
    assert!(!pending, "everything the answers need was loaded");

    let memory = PathBuf::from(format!("/nonexistent-tl-vfs-{}", std::process::id()));
    assert!(!memory.exists());
    let mut from_memory = AnalysisHost::new();
    let mut change = Change::new();
    change.set_file_text(memory.join("main.tl"), MAIN.to_string());
    change.set_file_text(memory.join("lib.tl"), LIB.to_string());
    change.set_external_bytes(memory.join("net.onnx"), fixture_model());
    from_memory.apply_change(change);
    let (got, pending) = answers(&from_memory, &memory);
    // Nothing was requested: every file the queries needed came from the VFS.
    assert!(!pending);
    assert_eq!(got, expected);
    // The errors we planted are there (the comparison is not between two empty answers).
    for code in ["code: 403", "code: 405"] {
        assert!(got.contains(code), "{code} missing in {got}");
    }
    let _ = std::fs::remove_dir_all(&disk);
}

#[test]
fn files_named_by_queries_are_requested_and_loaded_by_the_host() {
    let dir = std::env::temp_dir().join(format!("tl-vfs-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lib.tl"), LIB).unwrap();
    std::fs::write(dir.join("net.onnx"), fixture_model()).unwrap();
    let main = dir.join("main.tl");
    let mut host = AnalysisHost::new();
    let mut change = Change::new();
    change.set_file_text(&main, MAIN.to_string());
    host.apply_change(change);
    // Before loading: the imports are not loaded yet, and the analysis says so.
    let first = host.analysis();
    let before = first.diagnostics(&main).unwrap();
    assert!(first.has_requested().unwrap());
    assert!(
        before.iter().any(|d| d.message.contains("not loaded yet")),
        "{before:#?}"
    );
    drop(first);
    let mut change = Change::new();
    change.load_requested();
    host.apply_change(change);
    host.settle(std::slice::from_ref(&main));
    let a = host.analysis();
    let after = a.diagnostics(&main).unwrap();
    assert!(!a.has_requested().unwrap());
    assert!(
        !after.iter().any(|d| d.message.contains("not loaded yet")),
        "{after:#?}"
    );
    // Replacing the model on disk and telling the host re-reads only its header.
    drop(a);
    std::fs::write(dir.join("net.onnx"), b"not a model").unwrap();
    let mut change = Change::new();
    change.file_changed_on_disk(dir.join("net.onnx"));
    host.apply_change(change);
    let broken = host.analysis().diagnostics(&main).unwrap();
    assert!(
        broken.iter().any(|d| d.code_str().starts_with("TL031")),
        "{broken:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
