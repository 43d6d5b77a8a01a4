//! `tlc check`: analyse specs and print their diagnostics.

use std::path::PathBuf;

use tl_ide::{AnalysisHost, Change, Severity};

use crate::exit;
use crate::render::Renderer;

pub fn run(paths: &[PathBuf], format: &str, deny_warnings: bool) -> u8 {
    let files = match crate::sources::collect(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    if files.is_empty() {
        eprintln!(
            "error: no .tl files found in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return exit::USAGE;
    }
    let mut host = AnalysisHost::new();
    let mut change = Change::new();
    for path in &files {
        change.load_file(path);
    }
    host.apply_change(change);
    // Load what the specs import (the queries never read the disk).
    host.settle(&files);
    let analysis = host.analysis();
    let mut renderer = Renderer::new(&analysis);
    let (mut errors, mut warnings) = (0usize, 0usize);
    for path in &files {
        for d in crate::uncancelled(analysis.diagnostics(path)) {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
                Severity::Info => {}
            }
            if format == "short" {
                println!("{}", renderer.short(&d));
            } else {
                print!("{}", renderer.human(&d));
            }
        }
    }
    let n = files.len();
    let plural = |k: usize, w: &str| format!("{k} {w}{}", if k == 1 { "" } else { "s" });
    eprintln!(
        "checked {}: {}, {}",
        plural(n, "file"),
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    if errors > 0 || (deny_warnings && warnings > 0) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}
