//! The real `tlc lsp` over stdio: initialize, open/change, diagnostics and `tl/status`, hover,
//! completion, navigation, rename, semantic tokens, code lens, commands, malformed input,
//! out-of-range and non-ASCII positions, shutdown.

use serde_json::{json, Value};
use tl_lsp::client::StdioClient;

use crate::support::{repo_root, TempDir};

#[path = "lsp_verify.rs"]
mod verify;

const SPEC: &str = "tolerance fp32_run = abs 1e-5, rel 1e-4

/// Two layers.
graph net(x: f32[B, 4]) -> y: f32[B, 4] within fp32_run {
  h = relu(x)
  y = rellu(h)
}

contract positive on net {
  given x in box(-1.0, 1.0)
  ensure all(y >= 0)
  check by crown
}

contract bare on net {
  given x in box(-1.0, 1.0)
  ensure all(y >= 0)
}

assume kernel unused_k: \"nothing rests on this\"
";

struct Session {
    client: StdioClient,
    uri: String,
    _dir: TempDir,
}

/// Starts `tlc lsp`, initializes (offering UTF-8 when `utf8`), opens `main.tl` with `text`.
fn start(tag: &str, text: &str, utf8: bool) -> (Session, Value) {
    let dir = TempDir::new(tag);
    let path = dir.0.join("main.tl");
    std::fs::write(&path, text).expect("write spec");
    let mut client =
        StdioClient::spawn(env!("CARGO_BIN_EXE_tlc"), &["lsp"]).expect("tlc lsp starts");
    let root = format!("file://{}", dir.0.display());
    let encodings = if utf8 {
        json!(["utf-8", "utf-16"])
    } else {
        json!(["utf-16"])
    };
    let init = client.call(
        "initialize",
        json!({
            "processId": null,
            "rootUri": root,
            "capabilities": {
                "general": { "positionEncodings": encodings },
                "textDocument": { "completion": { "completionItem": { "snippetSupport": true } } }
            }
        }),
    );
    client.notify("initialized", json!({}));
    let uri = format!("file://{}", path.display());
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "tl", "version": 1, "text": text } }),
    );
    (
        Session {
            client,
            uri,
            _dir: dir,
        },
        init,
    )
}

impl Session {
    fn diagnostics(&mut self, version: i64) -> Vec<Value> {
        let uri = self.uri.clone();
        let p = self
            .client
            .notification("textDocument/publishDiagnostics", |p| {
                p["uri"] == uri.as_str() && p["version"] == version
            })
            .unwrap_or_else(|| panic!("no diagnostics for version {version}"));
        p["diagnostics"].as_array().cloned().unwrap_or_default()
    }
    fn at(&self, line: u32, character: u32) -> Value {
        json!({ "textDocument": { "uri": self.uri }, "position": { "line": line, "character": character } })
    }
    fn doc(&self) -> Value {
        json!({ "textDocument": { "uri": self.uri } })
    }
    /// Replaces paths that differ per run.
    fn redact(&self, v: &Value) -> String {
        let s = serde_json::to_string_pretty(v).expect("json");
        let root = format!("file://{}", repo_root().display());
        s.replace(&self.uri, "<uri>")
            .replace(&root, "file://<repo>")
    }
}

/// (line, UTF-16 column) of the `nth` occurrence of `needle` in `text`.
fn pos16(text: &str, needle: &str, nth: usize) -> (u32, u32) {
    let at = text.match_indices(needle).nth(nth).expect("needle").0;
    let before = &text[..at];
    let line = before.matches('\n').count() as u32;
    let col = before
        .rsplit('\n')
        .next()
        .unwrap_or("")
        .encode_utf16()
        .count() as u32;
    (line, col)
}

#[test]
fn full_session() {
    let (mut s, init) = start("lsp-session", SPEC, false);
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-16");
    assert_eq!(init["capabilities"]["textDocumentSync"]["change"], 2);

    // The typo is reported, with a link to its docs section.
    let diags = s.diagnostics(1);
    let typo = diags
        .iter()
        .find(|d| d["code"] == "TL0200")
        .expect("TL0200");
    let (line, col) = pos16(SPEC, "rellu", 0);
    assert_eq!(
        typo["range"]["start"],
        json!({ "line": line, "character": col })
    );
    assert!(typo["codeDescription"]["href"]
        .as_str()
        .is_some_and(|h| h.ends_with("diagnostics.md#tl0200")));
    let unused = diags
        .iter()
        .find(|d| d["code"] == "TL0421")
        .expect("TL0421");
    assert_eq!(
        unused["tags"],
        json!([1]),
        "unused assumptions are marked Unnecessary"
    );
    insta::assert_snapshot!("diagnostics_v1", s.redact(&json!(diags)));

    // tl/status: analysis statuses only, never a verification result.
    let uri = s.uri.clone();
    let status = s
        .client
        .notification("tl/status", |p| p["uri"] == uri.as_str())
        .expect("tl/status");
    let statuses: Vec<(&str, &str)> = status["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![("positive", "unknown"), ("bare", "uncovered")]
    );

    // Code actions offer the did-you-mean fix.
    let actions = s.client.call(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": s.uri }, "range": typo["range"], "context": { "diagnostics": [] } }),
    );
    assert_eq!(actions[0]["title"], "Replace with `relu`");

    // Fix the typo with an incremental edit: delete one `l`.
    s.client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": s.uri, "version": 2 },
            "contentChanges": [{ "range": { "start": { "line": line, "character": col + 3 }, "end": { "line": line, "character": col + 4 } }, "text": "" }]
        }),
    );
    let diags = s.diagnostics(2);
    assert!(diags.iter().all(|d| d["code"] != "TL0200"), "{diags:?}");
    let fixed = SPEC.replace("rellu", "relu");

    // Hover: the op, then a node with its inferred shape.
    let (l, c) = pos16(&fixed, "relu(h)", 0);
    let hover = s.client.call("textDocument/hover", s.at(l, c + 1));
    insta::assert_snapshot!("hover_op", hover["contents"]["value"].as_str().unwrap());
    let (l, c) = pos16(&fixed, "h)", 0);
    let hover = s.client.call("textDocument/hover", s.at(l, c));
    assert!(hover["contents"]["value"]
        .as_str()
        .unwrap()
        .contains("node h: f32[B, 4]"));

    // Completion at a node's value lists ops.
    let (l, c) = pos16(&fixed, "relu(x)", 0);
    let items = s.client.call("textDocument/completion", s.at(l, c));
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"linear") && labels.contains(&"softmax"),
        "{labels:?}"
    );

    // Definition of `h` in `relu(h)` is its node.
    let (l, c) = pos16(&fixed, "h)", 0);
    let def = s.client.call("textDocument/definition", s.at(l, c));
    let (dl, dc) = pos16(&fixed, "h = relu", 0);
    assert_eq!(
        def["range"]["start"],
        json!({ "line": dl, "character": dc })
    );

    // Rename the tolerance: its declaration and the graph header.
    let (l, c) = pos16(&fixed, "fp32_run", 0);
    let edit = s.client.call(
        "textDocument/rename",
        json!({ "textDocument": { "uri": s.uri }, "position": { "line": l, "character": c }, "newName": "budget" }),
    );
    assert_eq!(edit["changes"][s.uri.as_str()].as_array().unwrap().len(), 2);
    let bad = s.client.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": s.uri }, "position": { "line": l, "character": c }, "newName": "9x" }),
    );
    assert!(bad["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not a valid name"));

    // Semantic tokens: 5 integers per token, and `tolerance` is the first keyword.
    let tokens = s.client.call("textDocument/semanticTokens/full", s.doc());
    let data = tokens["data"].as_array().unwrap();
    assert_eq!(data.len() % 5, 0);
    assert_eq!(
        &data[..5],
        &[json!(0), json!(0), json!(9), json!(0), json!(0)]
    );

    // Code lenses: Verify and Show trust per contract, Show graph per graph.
    let lenses = s.client.call("textDocument/codeLens", s.doc());
    let titles: Vec<&str> = lenses
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["command"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        vec!["Show graph", "Verify", "Show trust", "Verify", "Show trust"]
    );

    // Commands: the graph as mermaid; verification runs the contract.
    let graph = s.client.call(
        "workspace/executeCommand",
        json!({ "command": "tl.showGraph", "arguments": [s.uri, "net"] }),
    );
    assert_eq!(graph["format"], "mermaid");
    assert!(graph["text"].as_str().unwrap().starts_with("flowchart TD"));
    let verify = s.client.call(
        "workspace/executeCommand",
        json!({ "command": "tl.verifyContract", "arguments": [s.uri, "positive"] }),
    );
    assert_eq!(verify["cancelled"], false, "{verify}");
    assert_eq!(verify["executed"], 1, "{verify}");
    let positive = &verify["contracts"][0];
    assert_eq!(positive["name"], "positive");
    assert!(positive["millis"].is_number(), "{verify}");
    let trust = s.client.call(
        "workspace/executeCommand",
        json!({ "command": "tl.showTrust", "arguments": [s.uri] }),
    );
    assert!(trust
        .as_str()
        .unwrap()
        .contains("### contract bare on net (output_range): uncovered"));

    assert_eq!(s.client.shutdown(), Some(0));
}

#[test]
fn survives_malformed_input_and_out_of_range_positions() {
    let (mut s, _) = start("lsp-robust", SPEC, false);
    s.diagnostics(1);
    s.client.send_raw(b"{ this is not json");
    s.client.send_raw(
        br#"{"jsonrpc":"2.0","id":99,"method":"textDocument/hover","params":{"bogus":true}}"#,
    );
    let unknown = s.client.request("tl/noSuchMethod", json!({}));
    assert!(unknown.get("error").is_some());
    // A `$/` request must be answered with MethodNotFound (-32601); a `$/` notification is
    // ignored, and the server still answers afterwards.
    s.client.notify("$/tl/noSuchNotification", json!({}));
    let dollar = s.client.request("$/tl/noSuchRequest", json!({}));
    assert_eq!(dollar["error"]["code"], -32601, "{dollar}");
    // Far outside the document: clamps, answers, does not crash.
    let hover = s.client.request("textDocument/hover", s.at(10_000, 10_000));
    assert!(hover.get("error").is_none(), "{hover}");
    let completion = s.client.request("textDocument/completion", s.at(3, 99_999));
    assert!(completion.get("error").is_none(), "{completion}");
    // An edit with an out-of-range range clamps too; the server still answers afterwards.
    s.client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": s.uri, "version": 2 },
            "contentChanges": [{ "range": { "start": { "line": 500, "character": 0 }, "end": { "line": 900, "character": 3 } }, "text": "\n// tail\n" }]
        }),
    );
    s.diagnostics(2);
    let symbols = s.client.call("textDocument/documentSymbol", s.doc());
    assert_eq!(symbols.as_array().unwrap().len(), 5);
    assert_eq!(s.client.shutdown(), Some(0));
}

const NON_ASCII: &str = "graph g(x: f32[4]) -> y: f32[4] {
  param w: f32[4] = load(\"poids-é😀.npy\", bogus = 1)
  y = add(x, w)
}
";

#[test]
fn non_ascii_positions_in_utf16_and_utf8() {
    let (line, col16) = pos16(NON_ASCII, "bogus", 0);
    let line_start = NON_ASCII.match_indices('\n').next().unwrap().0 + 1;
    let col8 = (NON_ASCII.find("bogus").unwrap() - line_start) as u32;
    assert_ne!(col8, col16);
    for (utf8, col) in [(false, col16), (true, col8)] {
        let (mut s, init) = start(if utf8 { "lsp-utf8" } else { "lsp-utf16" }, NON_ASCII, utf8);
        assert_eq!(
            init["capabilities"]["positionEncoding"],
            if utf8 { "utf-8" } else { "utf-16" }
        );
        let diags = s.diagnostics(1);
        let d = diags
            .iter()
            .find(|d| d["message"].as_str().unwrap().starts_with("load takes"))
            .expect("bad load argument");
        assert_eq!(
            d["range"]["start"],
            json!({ "line": line, "character": col })
        );
        // Type right after the emoji string's closing quote: `"` + `,` -> insert a space.
        s.client.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": s.uri, "version": 2 },
                "contentChanges": [{ "range": { "start": { "line": line, "character": col }, "end": { "line": line, "character": col } }, "text": "  " }]
            }),
        );
        let diags = s.diagnostics(2);
        let d = diags
            .iter()
            .find(|d| d["message"].as_str().unwrap().starts_with("load takes"))
            .expect("bad load argument");
        assert_eq!(
            d["range"]["start"],
            json!({ "line": line, "character": col + 2 })
        );
        assert_eq!(s.client.shutdown(), Some(0));
    }
}

#[test]
fn watched_files_and_inlay_hints() {
    let text =
        "import \"lib.tl\"\ngraph g(x: f32[4]) -> y: f32[4] within shared {\n  y = relu(x)\n}\n";
    let (mut s, _) = start("lsp-watch", text, false);
    let diags = s.diagnostics(1);
    assert!(diags.iter().any(|d| d["code"] == "TL0110"), "{diags:?}");
    // The imported file appears on disk: a watched-file event makes the server re-read it.
    let lib = s._dir.0.join("lib.tl");
    std::fs::write(&lib, "tolerance shared = abs 1e-3\n").expect("write lib");
    s.client.clear();
    s.client.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": format!("file://{}", lib.display()), "type": 1 }] }),
    );
    let uri = s.uri.clone();
    let published = s
        .client
        .notification("textDocument/publishDiagnostics", |p| {
            p["uri"] == uri.as_str()
        })
        .expect("diagnostics after the file event");
    assert_eq!(published["diagnostics"], json!([]), "{published}");
    // Go to the tolerance's definition in the new file.
    let def = s.client.call("textDocument/definition", s.at(1, 41));
    assert!(def["uri"].as_str().unwrap().ends_with("/lib.tl"), "{def}");
    // Inlay hints are on (the test client's configuration enables them).
    let hints = s.client.call(
        "textDocument/inlayHint",
        json!({ "textDocument": { "uri": s.uri }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 9, "character": 0 } } }),
    );
    assert_eq!(hints[0]["label"], ": f32[4]");
    assert_eq!(hints[0]["position"], json!({ "line": 2, "character": 3 }));
    assert_eq!(s.client.shutdown(), Some(0));
}

/// A block that instantiates itself, typed in the editor: one coded error, and the server keeps
/// answering (it once grew without bound expanding the instances).
#[test]
fn instantiation_cycle_is_a_diagnostic_not_a_crash() {
    let text = "block residual(x: f32[4]) -> y: f32[4] {\n  layers = repeat(residual, x, times = 2)\n  y = relu(layers)\n}\n\ngraph g(x: f32[4]) -> y: f32[4] {\n  y = residual(x)\n}\n\ncontract c on g {\n  given x in box(-1.0, 1.0)\n  ensure all(y >= 0)\n  check by crown\n}\n";
    let (mut s, _) = start("lsp-cycle", text, false);
    let diags = s.diagnostics(1);
    let codes: Vec<&str> = diags.iter().filter_map(|d| d["code"].as_str()).collect();
    assert_eq!(codes, ["TL0130"], "{diags:?}");
    assert_eq!(diags[0]["range"]["start"]["line"], 1);
    let hover = s.client.request("textDocument/hover", s.at(6, 7));
    assert!(hover.get("error").is_none(), "{hover}");
    let lens = s.client.request("textDocument/codeLens", s.doc());
    assert!(lens.get("error").is_none(), "{lens}");
    assert_eq!(s.client.shutdown(), Some(0));
}
