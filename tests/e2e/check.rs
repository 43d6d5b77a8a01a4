//! `tlc check`, `tlc fmt`, `tlc explain` on the shipped examples and the broken fixtures.

use crate::support::{repo_root, run_in, TempDir};

#[test]
fn every_spec_example_checks_clean() {
    let (code, stdout, stderr) = run_in(&repo_root(), &["check", "spec-examples"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The one diagnostic is the point of a BugZoo bug: the ShapeAndBroadcast variant's
    // ambiguous broadcast (TL0215). Any other diagnostic, or this one gone, fails.
    let warnings: Vec<&str> = stdout.lines().filter(|l| l.contains("warning[")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "only the BugZoo broadcast warning expected:\n{stdout}"
    );
    assert!(warnings[0].contains("warning[TL0215]"), "{stdout}");
    assert!(
        stdout.contains("spec-examples/bugzoo_broadcast.tl:14:3"),
        "the warning sits on the buggy sub:\n{stdout}"
    );
    assert!(!stdout.contains("error["), "{stdout}");
    assert!(stderr.contains("0 errors, 1 warning"), "{stderr}");
}

#[test]
fn every_spec_example_is_formatted() {
    let (code, stdout, stderr) = run_in(&repo_root(), &["fmt", "--check", "spec-examples"]);
    assert_eq!(code, 0, "run `tlc fmt spec-examples`:\n{stdout}{stderr}");
}

/// Each broken fixture gives its coded diagnostics; the rendered output is pinned.
#[test]
fn broken_fixtures_give_coded_diagnostics() {
    let dir = repo_root().join("tests/fixtures/broken");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tl"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "fixtures missing: {names:?}");
    for name in names {
        let (code, stdout, stderr) = run_in(&dir, &["check", &name]);
        assert!(code == 0 || code == 1, "{name}: exit {code}\n{stderr}");
        if name != "empty.tl" {
            assert_eq!(code, 1, "{name} must fail:\n{stdout}");
        }
        for line in stdout
            .lines()
            .filter(|l| l.starts_with("error") || l.starts_with("warning"))
        {
            assert!(line.contains("[TL"), "{name}: uncoded diagnostic: {line}");
        }
        insta::assert_snapshot!(
            name.trim_end_matches(".tl"),
            format!("exit {code}\n{stdout}{stderr}")
        );
    }
}

#[test]
fn short_format_is_one_line_per_diagnostic() {
    let dir = repo_root().join("tests/fixtures/broken");
    let (code, stdout, _) = run_in(&dir, &["check", "--format", "short", "unknown_op.tl"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stdout);
}

#[test]
fn explain_prints_the_documented_section() {
    let (code, stdout, _) = run_in(&repo_root(), &["explain", "TL0201"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("## TL0201: shape mismatch"), "{stdout}");
    let (code, _, stderr) = run_in(&repo_root(), &["explain", "TL9999"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = run_in(&repo_root(), &["explain", "nonsense"]);
    assert_eq!(code, 2);
}

/// `tlc explain TL0201 | head -0`: a reader that has gone away ends tlc quietly (SIGPIPE, as
/// other Unix tools), never with a panic (exit 101).
#[test]
#[cfg(unix)]
fn a_closed_stdout_pipe_is_not_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = crate::support::tlc()
        .args(["explain", "TL0201"])
        .stdout(writer)
        .output()
        .expect("tlc runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(13),
        "not ended by SIGPIPE: {:?} {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let (code, _, stderr) = run_in(&repo_root(), &["check", "no/such/path.tl"]);
    assert_eq!(code, 2, "{stderr}");
    let tmp = TempDir::new("noentries");
    let (code, _, stderr) = run_in(&tmp.0, &["check", "."]);
    assert_eq!(code, 2, "an empty directory is a usage error: {stderr}");
}

/// A 10 MB spec is analysed (not refused, not hung) and reports its one planted error.
#[test]
fn ten_megabyte_spec_is_analysed() {
    let tmp = TempDir::new("big");
    let mut text = String::with_capacity(11 << 20);
    let mut g = 0;
    while text.len() < 10 << 20 {
        text.push_str(&format!("graph g{g}(x: f32[B, 8]) -> y: f32[B, 8] {{\n"));
        let mut prev = "x".to_string();
        for i in 0..200 {
            text.push_str(&format!("  n{i} = relu({prev})\n"));
            prev = format!("n{i}");
        }
        text.push_str(&format!("  y = identity({prev})\n}}\n\n"));
        g += 1;
    }
    text.push_str("graph bad(x: f32[2]) -> y: f32[3] {\n  y = relu(x)\n}\n");
    std::fs::write(tmp.0.join("big.tl"), &text).expect("write");
    let (code, stdout, _) = run_in(&tmp.0, &["check", "--format", "short", "big.tl"]);
    assert_eq!(code, 1);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("TL0209"), "{stdout}");
}

/// Deep nesting is refused with a coded error, without overflowing the stack.
#[test]
fn deeply_nested_expression_is_refused_cleanly() {
    let tmp = TempDir::new("deep");
    let text = format!(
        "graph g(x: f32[1]) -> y: f32[1] {{\n  y = relu({}x{})\n}}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    std::fs::write(tmp.0.join("deep.tl"), text).expect("write");
    let (code, stdout, _) = run_in(&tmp.0, &["check", "--format", "short", "deep.tl"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("TL0007"), "{stdout}");
}

#[test]
fn fmt_rewrites_and_is_idempotent() {
    let tmp = TempDir::new("fmt");
    let messy = "// keep me\ngraph   g( x:f32[1,2] )->y:f32[1,2]{\n\n\n  y=relu( x )   // and me\n}\ntolerance t=abs 1e-5 ,rel 1e-4\n";
    std::fs::write(tmp.0.join("m.tl"), messy).expect("write");
    let (code, stdout, _) = run_in(&tmp.0, &["fmt", "--check", "m.tl"]);
    assert_eq!(code, 1, "{stdout}");
    let (code, _, stderr) = run_in(&tmp.0, &["fmt", "m.tl"]);
    assert_eq!(code, 0, "{stderr}");
    let once = std::fs::read_to_string(tmp.0.join("m.tl")).expect("read");
    assert!(
        once.contains("// keep me") && once.contains("// and me"),
        "{once}"
    );
    let (code, _, _) = run_in(&tmp.0, &["fmt", "--check", "m.tl"]);
    assert_eq!(code, 0, "formatting is idempotent:\n{once}");
    insta::assert_snapshot!(once);
}
