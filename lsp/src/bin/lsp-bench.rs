//! `lsp-bench`: latency and memory of the real `tlc lsp` on a generated 10,000-node workspace
//! (50 files, one graph of 200 nodes each, plus a contract per file).
//!
//! Usage: `cargo build --release -p tlc -p tl-lsp && target/release/lsp-bench [--tlc PATH]
//! [--edits N] [--hovers N] [--spec FILE]`. With `--spec`, the probe opens that spec in place
//! (its folder is the workspace) and flips its first elementwise activation instead. Measures, over stdio: didChange -> publishDiagnostics for the
//! edited version (p50/p95), hover (p50/p95), a burst of edits (time to the last version's
//! diagnostics), and the server's resident memory (VmRSS from /proc/<pid>/status).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use tl_lsp::client::StdioClient;

const FILES: usize = 50;
const NODES: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let tlc = opt("--tlc").unwrap_or_else(|| default_tlc().display().to_string());
    let edits: usize = opt("--edits").and_then(|v| v.parse().ok()).unwrap_or(100);
    let hovers: usize = opt("--hovers").and_then(|v| v.parse().ok()).unwrap_or(200);

    let given = opt("--spec").map(|p| std::fs::canonicalize(p).expect("--spec FILE exists"));
    let generated = std::env::temp_dir().join(format!("tl-lsp-bench-{}", std::process::id()));
    let (dir, main_path, mut text) = match &given {
        Some(path) => (
            path.parent().expect("a folder").to_path_buf(),
            path.clone(),
            std::fs::read_to_string(path).expect("read --spec"),
        ),
        None => {
            std::fs::create_dir_all(&generated).expect("temp dir");
            for f in 0..FILES {
                std::fs::write(generated.join(format!("g{f:02}.tl")), spec(f)).expect("write spec");
            }
            (generated.clone(), generated.join("g00.tl"), spec(0))
        }
    };
    // The edited line and the two ops it flips between; the hovered lines.
    let (line, op_a, op_b, hover_lines) = match &given {
        Some(_) => {
            let acts = ["relu(", "gelu(", "tanh(", "sigmoid("];
            let (line, op) = text
                .lines()
                .enumerate()
                .find_map(|(i, l)| {
                    acts.iter()
                        .find(|a| l.contains(**a))
                        .map(|a| (i, a.trim_end_matches('(')))
                })
                .expect("the spec has an elementwise activation to flip");
            let other = if op == "relu" { "tanh" } else { "relu" };
            let lines: Vec<usize> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| {
                    l.len() > 4 && l.starts_with("  ") && !l.trim_start().starts_with("//")
                })
                .map(|(i, _)| i)
                .collect();
            (line, op, other, lines)
        }
        None => (
            2 + NODES / 2,
            "relu",
            "tanh",
            (0..NODES).map(|i| 2 + i).collect(),
        ),
    };
    let uri = format!("file://{}", main_path.display());

    let mut client = StdioClient::spawn(&tlc, &["lsp"]).unwrap_or_else(|e| {
        eprintln!("cannot start {tlc}: {e}");
        std::process::exit(2)
    });
    client.timeout = Duration::from_secs(120);
    let start = Instant::now();
    client.call(
        "initialize",
        json!({ "processId": null, "rootUri": format!("file://{}", dir.display()), "capabilities": {} }),
    );
    client.notify("initialized", json!({}));
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "tl", "version": 1, "text": text } }),
    );
    let initial = wait_diagnostics(&mut client, &uri, 1);
    let first = start.elapsed();
    // The generated specs are clean: diagnostics measure analysis, not error reporting.
    assert_eq!(initial, 0, "the generated spec has diagnostics");
    // A workspace-wide request makes the server analyse every file once.
    let t = Instant::now();
    let symbols = client.call("workspace/symbol", json!({ "query": "g49" }));
    let workspace_symbols = t.elapsed();
    let found = symbols.as_array().map_or(0, Vec::len);
    let rss_loaded = rss_kib(client.pid());

    // didChange -> publishDiagnostics: flip one op in the middle of the graph.
    let mut change_ms = Vec::new();
    for i in 0..edits {
        let version = 2 + i as i64;
        let (old, new) = if i.is_multiple_of(2) {
            (op_a, op_b)
        } else {
            (op_b, op_a)
        };
        let (l, c) = find_on_line(&text, line, old);
        text = replace_at(&text, l, c, old, new);
        let t = Instant::now();
        client.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "range": { "start": { "line": l, "character": c }, "end": { "line": l, "character": c + old.len() as u32 } }, "text": new }]
            }),
        );
        wait_diagnostics(&mut client, &uri, version);
        change_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }

    // Hover over node names spread through the file.
    let mut hover_ms = Vec::new();
    for i in 0..hovers {
        let l = hover_lines[(i * 7) % hover_lines.len()];
        let t = Instant::now();
        let r = client.call(
            "textDocument/hover",
            json!({ "textDocument": { "uri": uri }, "position": { "line": l, "character": 3 } }),
        );
        hover_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(
            r.is_object() || given.is_some(),
            "hover on line {l} returned {r}"
        );
    }

    // A burst: 20 edits sent back to back; time until the last version's diagnostics.
    let burst = 20;
    let base_version = 2 + edits as i64;
    let t = Instant::now();
    for i in 0..burst {
        let (old, new) = if (edits + i).is_multiple_of(2) {
            (op_a, op_b)
        } else {
            (op_b, op_a)
        };
        let (l, c) = find_on_line(&text, line, old);
        text = replace_at(&text, l, c, old, new);
        client.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": base_version + i as i64 },
                "contentChanges": [{ "range": { "start": { "line": l, "character": c }, "end": { "line": l, "character": c + old.len() as u32 } }, "text": new }]
            }),
        );
    }
    wait_diagnostics(&mut client, &uri, base_version + burst as i64 - 1);
    let burst_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss_end = rss_kib(client.pid());
    let _ = client.shutdown();
    if given.is_none() {
        let _ = std::fs::remove_dir_all(&generated);
        println!(
            "workspace: {FILES} files x {NODES} nodes = {} nodes",
            FILES * NODES
        );
    } else {
        println!(
            "spec: {} (flipping {op_a} <-> {op_b} on line {})",
            main_path.display(),
            line + 1
        );
    }
    println!(
        "open -> first diagnostics: {:.1} ms",
        first.as_secs_f64() * 1e3
    );
    println!(
        "workspace/symbol (all files analysed, {found} hits): {:.1} ms",
        workspace_symbols.as_secs_f64() * 1e3
    );
    println!(
        "didChange -> publishDiagnostics ({edits} edits): p50 {:.2} ms, p95 {:.2} ms",
        pct(&mut change_ms, 50.0),
        pct(&mut change_ms, 95.0)
    );
    println!(
        "hover ({hovers} requests): p50 {:.2} ms, p95 {:.2} ms",
        pct(&mut hover_ms, 50.0),
        pct(&mut hover_ms, 95.0)
    );
    println!("burst of {burst} edits -> last version's diagnostics: {burst_ms:.1} ms");
    println!(
        "VmRSS after loading: {} KiB; at the end: {} KiB",
        rss_loaded.unwrap_or(0),
        rss_end.unwrap_or(0)
    );
}

fn default_tlc() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    me.parent().unwrap_or(Path::new(".")).join("tlc")
}

/// One file: a chain of 200 elementwise nodes (with residual adds), and a contract.
fn spec(f: usize) -> String {
    let mut s = format!("tolerance t{f:02} = abs 1e-5\ngraph g{f:02}(x: f32[B, 64]) -> y: f32[B, 64] within t{f:02} {{\n");
    let ops = ["relu", "tanh", "sigmoid", "gelu"];
    for i in 0..NODES {
        let prev = if i == 0 {
            "x".to_string()
        } else {
            format!("n{}", i - 1)
        };
        if i % 10 == 9 && i >= 2 {
            s.push_str(&format!("  n{i} = add({prev}, n{})\n", i - 2));
        } else if i == NODES / 2 {
            s.push_str(&format!("  n{i} = relu({prev})\n"));
        } else {
            s.push_str(&format!("  n{i} = {}({prev})\n", ops[(i + f) % ops.len()]));
        }
    }
    s.push_str(&format!("  y = softmax(n{}, axis = -1)\n}}\n\n", NODES - 1));
    s.push_str(&format!(
        // gelu is outside every compiled-semantics theorem (TL0712): the contract names its kernel.
        "assume kernel gelu_kernel{f:02}: \"tl's gelu kernel computes the reference semantics\"\n\n\
         contract c{f:02} on g{f:02} {{\n  rests on gelu_kernel{f:02}\n  given x in box(-1.0, 1.0)\n  ensure all(y >= 0)\n  check by crown\n}}\n"
    ));
    s
}

fn find_on_line(text: &str, line: usize, word: &str) -> (u32, u32) {
    let l = text.lines().nth(line).expect("line");
    let c = l
        .find(word)
        .unwrap_or_else(|| panic!("{word} not on line {line}: {l}"));
    (line as u32, c as u32)
}

fn replace_at(text: &str, line: u32, col: u32, old: &str, new: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let l = &mut lines[line as usize];
    l.replace_range(col as usize..col as usize + old.len(), new);
    lines.join("\n") + "\n"
}

/// Waits for the diagnostics of `version`; returns how many there are.
fn wait_diagnostics(client: &mut StdioClient, uri: &str, version: i64) -> usize {
    client
        .notification("textDocument/publishDiagnostics", |p| {
            p["uri"] == uri && p["version"] == version
        })
        .unwrap_or_else(|| panic!("no diagnostics for version {version}"))["diagnostics"]
        .as_array()
        .map_or(0, Vec::len)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i]
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
