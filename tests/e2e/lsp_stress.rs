//! Language-server stress (issue #14): the real `tlc lsp` gets 1,000 seeded random edits across
//! the shipped examples (typing, deleting, pasting whole files, undo) in bursts. After every burst
//! the diagnostics it publishes for the burst's last version must equal a fresh analysis of the
//! same text with the function `tlc check` uses (`tl_ide::Analysis::diagnostics`), converted as the
//! server converts them; the server must not die; its resident memory at the end must stay
//! within a bound of what it was after warm-up.
//!
//! `TL_STRESS_EDITS=N` changes the number of edits (docs/performance.md has a longer run).

use serde_json::{json, Value};
use tl_lsp::client::StdioClient;
use tl_lsp::{Encoding, LineIndex};

use crate::support::repo_root;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What a user types: identifiers, ops, brackets, newlines, comments, non-ASCII.
const TYPED: &[&str] = &[
    "x",
    "y",
    "relu(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "\n",
    "  ",
    "graph ",
    "block ",
    "contract ",
    "h = ",
    "linear(",
    "f32[B, 4]",
    "= 1.5",
    "// note\n",
    "/* c */",
    "é",
    "→",
    "\"",
    "42",
    ";",
    "repeat(",
    "given x in box(-1.0, 1.0)\n",
    "ensure all(y <= 2.0)\n",
    "check by crown\n",
];

/// One edit as the client sends it, and what undoes it.
enum Edit {
    /// Replace bytes `start..end` with `text`.
    Range {
        start: usize,
        end: usize,
        text: String,
    },
    /// Replace the whole document.
    Full(String),
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The server's diagnostics for `text` at `path`, computed here: `Analysis::diagnostics`, only the
/// file's own, converted as tl-lsp's `convert::diagnostic` does (range in UTF-16, code, message
/// with label, notes and help).
fn expected(path: &std::path::Path, text: &str) -> Vec<(String, Value, String)> {
    let mut host = tl_ide::AnalysisHost::new();
    let mut change = tl_ide::Change::new();
    change.set_file_text(path, text.to_string());
    host.apply_change(change);
    // Load what the text names (imports, weight headers), as `tlc check` does.
    host.settle(&[path.to_path_buf()]);
    let here = tl_ide::normalize_path(path);
    let index = LineIndex::new(text, Encoding::Utf16);
    host.analysis()
        .diagnostics(path)
        .expect("nothing changes while analysing")
        .iter()
        .filter(|d| d.range.path == here)
        .map(|d| {
            let mut message = d.message.clone();
            if !d.label.is_empty() {
                message.push_str(&format!(" ({})", d.label));
            }
            for n in &d.notes {
                message.push_str(&format!("\nnote: {n}"));
            }
            if let Some(h) = &d.help {
                message.push_str(&format!("\nhelp: {h}"));
            }
            let range = serde_json::to_value(index.range(d.range.range)).unwrap();
            (d.code_str(), range, message)
        })
        .collect()
}

fn published(p: &Value) -> Vec<(String, Value, String)> {
    p["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or("").to_string(),
                d["range"].clone(),
                d["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_thousand_random_edits_keep_the_server_alive_flat_and_in_agreement_with_check() {
    let edits: usize = std::env::var("TL_STRESS_EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let examples_dir = repo_root().join("spec-examples");
    let mut examples: Vec<String> = std::fs::read_dir(&examples_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tl"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    examples.sort();
    assert!(examples.len() >= 5, "examples missing");
    // A buffer beside the examples (never written to disk), so their weights resolve.
    let path = examples_dir.join("__lsp_stress_buffer.tl");
    let uri = format!("file://{}", path.display());

    let mut client =
        StdioClient::spawn(env!("CARGO_BIN_EXE_tlc"), &["lsp"]).expect("tlc lsp starts");
    client.timeout = std::time::Duration::from_secs(120);
    let pid = client.pid();
    client.call(
        "initialize",
        json!({ "processId": null, "rootUri": format!("file://{}", repo_root().display()), "capabilities": {} }),
    );
    client.notify("initialized", json!({}));
    let mut rng = Rng(0x57E5_5ED1);
    let mut text = examples[0].clone();
    let mut version = 1i64;
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "tl", "version": version, "text": text } }),
    );
    let mut undo: Vec<Edit> = Vec::new();
    let (mut warm_rss, mut peak_rss) = (None, 0u64);
    let (mut done, mut burst) = (0usize, 0usize);
    let (mut kinds, mut compared_diagnostics) = ([0usize; 4], 0usize);
    let started = std::time::Instant::now();
    while done < edits {
        let n = (5 + rng.below(40)).min(edits - done);
        let mut changes = Vec::new();
        for _ in 0..n {
            let kind = match rng.below(20) {
                0 => 2,     // paste a whole file
                1..=3 => 3, // undo
                4..=8 => 1, // delete
                _ => 0,     // type
            };
            let edit = match kind {
                0 => {
                    let at = boundary(&text, rng.below(text.len() + 1));
                    let typed = TYPED[rng.below(TYPED.len())].to_string();
                    Edit::Range {
                        start: at,
                        end: at,
                        text: typed,
                    }
                }
                1 => {
                    let a = boundary(&text, rng.below(text.len() + 1));
                    let b = boundary(&text, a + 1 + rng.below(60));
                    Edit::Range {
                        start: a,
                        end: b.max(a),
                        text: String::new(),
                    }
                }
                2 => Edit::Full(examples[rng.below(examples.len())].clone()),
                _ => match undo.pop() {
                    Some(e) => e,
                    None => continue,
                },
            };
            kinds[kind] += 1;
            // Apply it here, remember its inverse (unless it is an undo), send it.
            let index = LineIndex::new(&text, Encoding::Utf16);
            let (change, inverse, new_text) = match edit {
                Edit::Range {
                    start,
                    end,
                    text: ins,
                } => {
                    let range = index.range(tl_syntax::TextRange::new(start as u32, end as u32));
                    let change =
                        json!({ "range": serde_json::to_value(range).unwrap(), "text": ins });
                    let removed = text[start..end].to_string();
                    let mut t = text.clone();
                    t.replace_range(start..end, &ins);
                    let inv = Edit::Range {
                        start,
                        end: start + ins.len(),
                        text: removed,
                    };
                    (change, inv, t)
                }
                Edit::Full(t) => (json!({ "text": t }), Edit::Full(text.clone()), t),
            };
            if kind != 3 {
                undo.push(inverse);
                if undo.len() > 200 {
                    undo.remove(0);
                }
            }
            text = new_text;
            changes.push(change);
        }
        done += n;
        // Sent as separate notifications (as editors do while typing), versions in order.
        for change in changes {
            version += 1;
            client.notify(
                "textDocument/didChange",
                json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [change] }),
            );
        }
        let want_version = version;
        let p = client
            .notification("textDocument/publishDiagnostics", |p| {
                p["uri"] == uri.as_str() && p["version"] == want_version
            })
            .unwrap_or_else(|| {
                panic!(
                    "burst {burst}: no diagnostics for version {want_version} (server alive: {:?})",
                    vm_rss_kib(pid).is_some()
                )
            });
        client.clear();
        let got = published(&p);
        let want = expected(&path, &text);
        assert_eq!(
            got, want,
            "burst {burst} (version {want_version}): the server's diagnostics differ from a fresh check of:\n{text}"
        );
        compared_diagnostics += want.len();
        let rss = vm_rss_kib(pid).expect("the server is running");
        peak_rss = peak_rss.max(rss);
        burst += 1;
        if burst == 5 {
            warm_rss = Some(rss);
        }
    }
    let end_rss = vm_rss_kib(pid).expect("the server is running");
    let warm = warm_rss.unwrap_or(end_rss);
    println!(
        "lsp stress: {done} edits (typed {}, deleted {}, pasted {}, undone {}) in {burst} bursts, {compared_diagnostics} diagnostics compared, {:.1} s; VmRSS after warm-up {warm} KiB, end {end_rss} KiB, peak {peak_rss} KiB",
        kinds[0], kinds[1], kinds[2], kinds[3],
        started.elapsed().as_secs_f64()
    );
    // Flat: the end within 1.5x the warm-up plus 64 MiB (one analysis of the largest example is
    // far below that; a leak of every revision's text and analysis is not).
    assert!(
        end_rss <= warm + warm / 2 + 64 * 1024,
        "resident memory grew from {warm} KiB after warm-up to {end_rss} KiB"
    );
    assert_eq!(client.shutdown(), Some(0));
}
