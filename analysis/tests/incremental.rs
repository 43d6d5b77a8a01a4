//! An edit inside one graph re-runs the queries of that graph only.

use std::path::Path;

use tl_analysis::check::file_diagnostics;
use tl_analysis::testing::generated_spec;
use tl_analysis::RootDatabase;

fn count(log: &[String], query: &str) -> usize {
    log.iter()
        .filter(|l| l.starts_with(&format!("{query}(")))
        .count()
}

#[test]
fn one_token_edit_reanalyses_only_its_graph() {
    let mut db = RootDatabase::default();
    let path = Path::new("/virtual/workspace.tl");
    let text = generated_spec(50, 200);
    let file = db.set_source_text(path, text.clone());
    let before = file_diagnostics(&db, file);
    assert!(
        before.iter().all(|d| d.code == 301),
        "only the missing weight files are reported: {:?}",
        before.first()
    );

    db.start_logging();
    // One token in graph g17: `relu` -> `tanh` in its node n1.
    let at = text.find("graph g17(").expect("g17");
    let node = at + text[at..].find("n1 = relu(").expect("n1");
    let edited = format!(
        "{}n1 = tanh({}",
        &text[..node],
        &text[node + "n1 = relu(".len()..]
    );
    db.set_source_text(path, edited);
    let after = file_diagnostics(&db, file);
    assert_eq!(after.len(), before.len());
    let log = db.take_executions();
    assert_eq!(count(&log, "parse_item"), 1, "{log:#?}");
    assert_eq!(count(&log, "analyze_graph"), 1, "{log:#?}");
    assert_eq!(count(&log, "check_payload"), 1, "{log:#?}");
    assert!(count(&log, "item_diagnostics") <= 1, "{log:#?}");

    // An edit that shifts every later item (a longer name) still re-parses one item only.
    db.start_logging();
    let text = db_text(&db, file);
    let shifted = text.replacen("graph g3(x: f32[B, 64])", "graph g3(x: f32[B,  64])", 1);
    db.set_source_text(path, shifted);
    file_diagnostics(&db, file);
    let log = db.take_executions();
    assert_eq!(count(&log, "parse_item"), 1, "{log:#?}");
    assert!(count(&log, "analyze_graph") <= 1, "{log:#?}");
}

fn db_text(db: &RootDatabase, file: tl_analysis::SourceFile) -> String {
    file.text(db).clone().expect("text")
}
