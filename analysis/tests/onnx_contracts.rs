//! Contracts about an imported ONNX model resolve its inputs and outputs by name.

use std::path::Path;

use tl_analysis::check::file_diagnostics;
use tl_analysis::RootDatabase;

#[test]
fn contract_names_are_checked_against_the_onnx_signature() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/onnx");
    let spec = r#"import onnx "mlp.onnx" as net

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
    let mut db = RootDatabase::default();
    let file = db.set_source_text(&dir.join("virtual_contracts.tl"), spec.to_string());
    db.settle(&[file]);
    let errors: Vec<(u16, String)> = file_diagnostics(&db, file)
        .into_iter()
        .filter(|d| d.severity == tl_analysis::Severity::Error)
        .map(|d| (d.code, d.message))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, 403, "{errors:?}");
    assert!(errors[0].1.contains("`z`"), "{errors:?}");
    assert_eq!(errors[1].0, 405, "{errors:?}");
    assert!(errors[1].1.contains("`logit`"), "{errors:?}");
}
