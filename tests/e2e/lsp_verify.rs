//! Verification through the real `tlc lsp` over stdio: `tl.verifyFile` on a spec example reports
//! the same statuses as `tlc verify`, with `$/progress`, code lenses, the ledger in the hover and
//! the trust report; an edit during a run cancels it without a hang.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tl_lsp::client::StdioClient;

use crate::support::{repo_root, run_in, TempDir};

/// Starts `tlc lsp` on `root` with progress and code-lens refresh support, opens `path`.
fn open(root: &Path, path: &Path, text: &str) -> (StdioClient, String) {
    let mut client =
        StdioClient::spawn(env!("CARGO_BIN_EXE_tlc"), &["lsp"]).expect("tlc lsp starts");
    client.call(
        "initialize",
        json!({
            "processId": null,
            "rootUri": format!("file://{}", root.display()),
            "capabilities": {
                "window": { "workDoneProgress": true },
                "workspace": { "codeLens": { "refreshSupport": true } }
            }
        }),
    );
    client.notify("initialized", json!({}));
    let uri = format!("file://{}", path.display());
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "tl", "version": 1, "text": text } }),
    );
    let u = uri.clone();
    client
        .notification("textDocument/publishDiagnostics", |p| {
            p["uri"] == u.as_str() && p["version"] == 1
        })
        .expect("diagnostics for the opened spec");
    (client, uri)
}

/// Contract name -> status in a `tl/status` payload or a verify summary.
fn statuses(contracts: &Value) -> Vec<(String, String)> {
    contracts
        .as_array()
        .expect("contracts")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn progress_kinds(client: &mut StdioClient) -> Vec<String> {
    client
        .seen("$/progress")
        .iter()
        .map(|p| p["value"]["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn verify_file_matches_tlc_verify_with_progress_lenses_hover_and_trust() {
    let root = repo_root();
    let spec = root.join("spec-examples/mnist_mlp.tl");
    let text = std::fs::read_to_string(&spec).expect("spec-examples/mnist_mlp.tl");
    let (mut client, uri) = open(&root.join("spec-examples"), &spec, &text);

    let summary = client.call(
        "workspace/executeCommand",
        json!({ "command": "tl.verifyFile", "arguments": [uri] }),
    );
    assert_eq!(summary["cancelled"], false, "{summary}");
    let u = uri.clone();
    let status = client
        .notification("tl/status", |p| {
            p["uri"] == u.as_str()
                && p["contracts"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().all(|c| c["status"] != "running"))
                && p["contracts"][0]["millis"].is_number()
        })
        .expect("tl/status with results");
    let editor = statuses(&status["contracts"]);
    assert_eq!(editor, statuses(&summary["contracts"]));
    assert!(
        editor.contains(&("robust_digit_7".into(), "checked".into())),
        "{editor:?}"
    );
    let robust = &status["contracts"][0];
    assert_eq!(robust["method"], "crown");
    assert!(robust["message"].as_str().unwrap().contains("CROWN bounds"));

    // The same statuses, word for word, as `tlc verify` prints.
    let (code, out, err) = run_in(
        &root,
        &["verify", "spec-examples/mnist_mlp.tl", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).expect("tlc verify json");
    assert_eq!(editor, statuses(&report["contracts"]));
    assert!(editor.iter().any(|(n, _)| n == "compiled_matches"));

    // Progress: a begin, a report per contract started and finished, an end.
    let kinds = progress_kinds(&mut client);
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("begin"),
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("end"), "{kinds:?}");
    assert!(
        kinds.iter().filter(|k| *k == "report").count() >= 4,
        "{kinds:?}"
    );

    // Code lenses show the results.
    let lenses = client.call(
        "textDocument/codeLens",
        json!({ "textDocument": { "uri": uri } }),
    );
    let titles: Vec<&str> = lenses
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["command"]["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.iter().any(|t| t.starts_with("checked in ")),
        "{titles:?}"
    );
    assert!(
        titles.iter().any(|t| t.starts_with("tested 200 samples")),
        "{titles:?}"
    );

    // Hover on the verified contract's name: its summary, then the trust ledger.
    let line = text
        .lines()
        .position(|l| l.starts_with("contract robust_digit_7"))
        .unwrap();
    let hover = client.call(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": 12 } }),
    );
    let markdown = hover["contents"]["value"].as_str().unwrap().to_string();
    assert!(markdown.contains("| method | **checked** |"), "{markdown}");
    insta::assert_snapshot!(
        "verified_contract_hover",
        tl_ide::testing::redact_sampled_numbers(&markdown)
    );

    // The trust report carries the results too.
    let trust = client.call(
        "workspace/executeCommand",
        json!({ "command": "tl.showTrust", "arguments": [uri] }),
    );
    let trust = trust.as_str().unwrap();
    assert!(
        trust.contains("### contract robust_digit_7 on mnist_mlp (robustness): checked"),
        "{trust}"
    );

    // One contract by name; an unknown name is an error.
    let one = client.call(
        "workspace/executeCommand",
        json!({ "command": "tl.verifyContract", "arguments": [uri, "compiled_matches"] }),
    );
    assert_eq!(
        one["cached"], 1,
        "the unchanged contract comes from the store: {one}"
    );
    let bad = client.request(
        "workspace/executeCommand",
        json!({ "command": "tl.verifyContract", "arguments": [uri, "nope"] }),
    );
    assert!(bad["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no contract named `nope`"));

    // Saving verifies the file (verifyOnSave is on by default).
    client.clear();
    client.notify(
        "textDocument/didSave",
        json!({ "textDocument": { "uri": uri } }),
    );
    // (The refused `nope` run's own progress end may still arrive after `clear`: wait for the
    // end of a run over the file's two contracts.)
    let end = client
        .notification("$/progress", |p| {
            p["value"]["kind"] == "end"
                && p["value"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("2 contract(s)"))
        })
        .expect("a run on save");
    assert!(
        end["value"]["message"]
            .as_str()
            .unwrap()
            .starts_with("2 contract(s)"),
        "{end}"
    );
    assert_eq!(client.shutdown(), Some(0));
}

/// A spec with `n` slow sampling contracts on the MNIST example's weights.
/// Waits for a `tl/status` of `uri` with a contract running; returns it.
fn wait_running(client: &mut StdioClient, uri: &str) -> Value {
    client
        .notification("tl/status", |p| {
            p["uri"] == uri
                && p["contracts"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["status"] == "running"))
        })
        .expect("running contracts are reported")
}

/// Edits the document (version 2): a comment line inserted at the top.
fn insert_comment_on_line_0(client: &mut StdioClient, uri: &str) {
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": uri, "version": 2 },
            "contentChanges": [{ "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 0, "character": 0 } }, "text": "// edited\n" }]
        }),
    );
}

fn slow_spec(weights: &Path, n: usize) -> String {
    let mut s = format!(
        "tolerance t = abs 1e-5, rel 1e-4\n\ngraph m(x: f32[B, 784]) -> y: f32[B, 10] within t {{\n  params from \"{}\"\n  param fc1.weight: f32[32, 784]\n  param fc1.bias: f32[32]\n  param fc2.weight: f32[10, 32]\n  param fc2.bias: f32[10]\n  h = linear(x, fc1.weight, fc1.bias)\n  a = relu(h)\n  y = linear(a, fc2.weight, fc2.bias)\n}}\n",
        weights.display()
    );
    for i in 0..n {
        s.push_str(&format!(
            "\ncontract slow_{i} on m {{\n  given x in box(0.0, 1.0)\n  ensure compiled ~= reference within t\n  check by sampling(10000, seed = {i})\n}}\n"
        ));
    }
    s
}

#[test]
fn an_edit_cancels_a_running_verification() {
    let weights = repo_root().join("spec-examples/weights/mnist_mlp.safetensors");
    let dir = TempDir::new("lsp-cancel");
    let path = dir.0.join("slow.tl");
    let n = 8;
    let text = slow_spec(&weights, n);
    std::fs::write(&path, &text).expect("write spec");
    let (mut client, uri) = open(&dir.0, &path, &text);

    let id = client.start_request(
        "workspace/executeCommand",
        json!({ "command": "tl.verifyFile", "arguments": [uri] }),
    );
    // Wait until the second contract has started, then edit the document.
    client
        .notification("$/progress", |p| {
            p["value"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("slow_1 ("))
        })
        .expect("the run reports its second contract");
    let running = wait_running(&mut client, &uri);
    assert!(statuses(&running["contracts"]).len() == n);
    // Forget what came before (the opening statuses look like the edited version's).
    client.clear();
    let edited = Instant::now();
    insert_comment_on_line_0(&mut client, &uri);
    let response = client.response(id).expect("the cancelled run answers");
    let waited = edited.elapsed();
    let summary = &response["result"];
    assert_eq!(summary["cancelled"], true, "{response}");
    assert!(
        summary["executed"].as_u64().unwrap() < n as u64,
        "{summary}"
    );
    // At most the contract in flight finishes after the edit, far less than the whole run.
    assert!(waited < Duration::from_secs(20), "took {waited:?}");
    // The new version's statuses are the analysis ones: nothing stale, nothing left running.
    let status = client
        .notification("tl/status", |p| {
            p["uri"] == uri.as_str()
                && p["contracts"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().all(|c| c["status"] == "unknown"))
        })
        .expect("statuses for the edited version");
    assert_eq!(statuses(&status["contracts"]).len(), n);
    // The server still verifies afterwards.
    let one = client.call(
        "workspace/executeCommand",
        json!({ "command": "tl.verifyContract", "arguments": [uri, "slow_0"] }),
    );
    assert_eq!(
        statuses(&one["contracts"])[0],
        ("slow_0".to_string(), "tested".to_string())
    );
    assert_eq!(client.shutdown(), Some(0));
}

/// An edit stops a branch-and-bound search in flight (through `VerifyOptions::cancel`), long
/// before its own time limit, and the stopped result is not shown or stored.
#[test]
fn an_edit_stops_a_running_branch_and_bound() {
    let examples = repo_root().join("spec-examples");
    let dir = TempDir::new("lsp-cancel-bab");
    let path = dir.0.join("hard.tl");
    let original =
        std::fs::read_to_string(examples.join("acas_xu_controller.tl")).expect("example");
    let graph_end = original.find("\n}\n").expect("graph body") + 3;
    // The controller with a bound well below 0.5 but above its maximum: a search of tens of
    // seconds (55 s on the development machine).
    let text = format!(
        "{}\ncontract tight on acas_controller {{\n  given x in box([[-0.3, -0.5, -0.5, 0.3, 0.3]], [[0.3, 0.5, 0.5, 0.5, 0.5]])\n  ensure scores[0, 0] <= 0.03\n  check by bab(timeout = 300s)\n}}\n",
        original[..graph_end].replace("load(\"weights/", &format!("load(\"{}/weights/", examples.display()))
    );
    std::fs::write(&path, &text).expect("write spec");
    let (mut client, uri) = open(&dir.0, &path, &text);
    let id = client.start_request(
        "workspace/executeCommand",
        json!({ "command": "tl.verifyFile", "arguments": [uri] }),
    );
    wait_running(&mut client, &uri);
    let edited = Instant::now();
    insert_comment_on_line_0(&mut client, &uri);
    let response = client.response(id).expect("the cancelled run answers");
    let waited = edited.elapsed();
    assert_eq!(response["result"]["cancelled"], true, "{response}");
    assert_eq!(response["result"]["executed"], 0, "{response}");
    assert!(
        waited < Duration::from_secs(15),
        "the search was not interrupted: {waited:?}"
    );
    assert_eq!(client.shutdown(), Some(0));
}
