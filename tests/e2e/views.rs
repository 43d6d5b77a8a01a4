//! `tlc bounds --per-node` and `tlc report` on the shipped spec-examples.

use std::path::Path;

use crate::support::{repo_root, run_in, write_npy, TempDir};

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// A centre drawn at test time (xorshift seeded by the clock), printed so a failure reproduces.
fn random_centre(n: usize) -> Vec<f32> {
    let mut s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("centre seed {s}");
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn bounds_json(dir: &Path, spec: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "bounds",
        spec,
        "--input",
        "x=centre.npy",
        "--eps",
        "0.05",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run_in(dir, &args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn per_node_boxes_nest_in_ibp_and_end_at_the_printed_output_bounds() {
    let dir = TempDir::new("per-node");
    write_npy(&dir.0.join("centre.npy"), &[1, 5], &random_centre(5));
    let spec = repo_root().join("spec-examples/acas_xu_controller.tl");
    let spec = spec.to_str().unwrap();
    let plain = bounds_json(&dir.0, spec, &[]);
    let v = bounds_json(&dir.0, spec, &["--per-node"]);
    let per = &v["per_node"]["scores"];
    let nodes = per["nodes"].as_array().expect("nodes");
    // Input, then linear and relu per hidden layer, then the output layer.
    assert!(nodes.len() >= 13, "{} nodes", nodes.len());
    assert_eq!(nodes[0]["kind"], "input");
    let outputs: Vec<_> = nodes.iter().filter(|n| n["output"] == true).collect();
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0]["name"], "scores");
    // The output node's CROWN box is what `tlc bounds` prints.
    assert_eq!(
        floats(&outputs[0]["crown"]["lower"]),
        floats(&plain["outputs"]["scores"]["lower"])
    );
    assert_eq!(
        floats(&outputs[0]["crown"]["upper"]),
        floats(&plain["outputs"]["scores"]["upper"])
    );
    let mut names = Vec::new();
    for n in nodes {
        let name = n["name"].as_str().expect("name").to_string();
        let (il, iu) = (floats(&n["ibp"]["lower"]), floats(&n["ibp"]["upper"]));
        let (cl, cu) = (floats(&n["crown"]["lower"]), floats(&n["crown"]["upper"]));
        let size: u64 = n["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .product();
        assert_eq!(il.len() as u64, size, "{name}");
        assert_eq!(cl.len() as u64, size, "{name}");
        for j in 0..il.len() {
            assert!(il[j] <= iu[j] && cl[j] <= cu[j], "{name}[{j}] inverted");
            // Intersection with IBP is on: every intermediate CROWN box lies within IBP's, up
            // to rounding: IBP from a parent box tightened by an ulp can move an ulp either way
            // (midpoint-radius arithmetic is not monotone at that scale; both stay sound). The
            // output's box is the final backward pass, not intersected, so it is not asserted.
            if n["output"] != true {
                let slack = 1e-12 * (il[j].abs().max(iu[j].abs()) + 1.0);
                assert!(
                    cl[j] >= il[j] - slack && cu[j] <= iu[j] + slack,
                    "{name}[{j}]: crown [{}, {}] outside ibp [{}, {}]",
                    cl[j],
                    cu[j],
                    il[j],
                    iu[j]
                );
            }
        }
        let mean = (0..cl.len()).map(|j| cu[j] - cl[j]).sum::<f64>() / cl.len() as f64;
        let got = n["crown"]["mean_width"].as_f64().unwrap();
        assert!(
            (mean - got).abs() <= 1e-9 * mean.abs().max(1.0),
            "{name}: {mean} vs {got}"
        );
        names.push(name);
    }
    // Every graph node name appears in the spec, the input box is the eps ball.
    let ranking: Vec<&str> = per["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(ranking.len(), nodes.len());
    let width_of = |name: &str| {
        nodes
            .iter()
            .find(|n| n["name"] == name)
            .map(|n| n["crown"]["mean_width"].as_f64().unwrap())
            .unwrap()
    };
    for w in ranking.windows(2) {
        assert!(
            width_of(w[0]) >= width_of(w[1]),
            "ranking out of order: {w:?}"
        );
    }
    let input = &nodes[0]["ibp"];
    assert!((input["mean_width"].as_f64().unwrap() - 0.1).abs() < 1e-6);
    // The f32 rounding budget: one entry per layer of the boxes, and the output's bound covers
    // what the two engines actually differ by at points of the box (the centre here; the bound
    // is on |f32 - real| and the f64 reference is within 1e-12 of real at this size).
    let budget = &per["float"];
    assert!(budget["unmodelled"].is_null(), "{budget}");
    let budget_names: Vec<&str> = budget["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        budget_names,
        names.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let output_budget = budget["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "scores")
        .unwrap()["max_abs"]
        .as_f64()
        .unwrap();
    assert!(output_budget.is_finite() && output_budget > 0.0);
    let run = |engine: &str| {
        let (code, out, err) = run_in(
            &dir.0,
            &[
                "run",
                spec,
                "--input",
                "x=centre.npy",
                "--engine",
                engine,
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        floats(&v["outputs"]["scores"]["data"])
    };
    let (f32_out, f64_out) = (run("compiled"), run("reference"));
    for (a, b) in f32_out.iter().zip(&f64_out) {
        assert!(
            (a - b).abs() <= output_budget + 1e-12,
            "measured |f32 - f64| = {} above the derived budget {output_budget}",
            (a - b).abs()
        );
    }
    // Text mode shows the table and the ranking.
    let (code, out, err) = run_in(
        &dir.0,
        &[
            "bounds",
            spec,
            "--input",
            "x=centre.npy",
            "--eps",
            "0.05",
            "--per-node",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("diagnostic view"), "{out}");
    assert!(out.contains("tightness"), "{out}");
    assert!(out.contains("f32 rounding budget per node"), "{out}");
    for name in &names {
        assert!(out.contains(name.as_str()), "{name} missing from:\n{out}");
    }
}

/// Every `.tl` file directly under spec-examples/.
fn spec_examples() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(repo_root().join("spec-examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tl"))
        .collect();
    v.sort();
    assert!(v.len() >= 5, "spec-examples: {v:?}");
    v
}

/// (graph names with their IR node names, (contract, status)) from `tlc trust` and `tlc graph`.
/// Graph names with their IR node names.
type Graphs = Vec<(String, Vec<String>)>;
/// (contract, status).
type Statuses = Vec<(String, String)>;

fn expected(spec: &Path) -> (Graphs, Statuses) {
    let s = spec.to_str().unwrap();
    let (_, out, err) = run_in(&repo_root(), &["trust", s, "--format", "json"]);
    let trust: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{s}: trust not JSON ({e}): {err}"));
    let file = &trust["files"][0];
    let contracts = file["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["contract"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut graphs = Vec::new();
    for g in file["graphs"].as_array().unwrap() {
        let name = g["graph"].as_str().unwrap();
        let (code, out, err) = run_in(
            &repo_root(),
            &["graph", s, "--graph", name, "--format", "json"],
        );
        assert_eq!(code, 0, "{s} {name}: {err}");
        let ir: serde_json::Value = serde_json::from_str(&out).unwrap();
        let nodes = ir["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect();
        graphs.push((name.to_string(), nodes));
    }
    (graphs, contracts)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page (or Chromium's DOM of it) names every node and every contract with its status.
fn check_page(
    what: &str,
    html: &str,
    graphs: &[(String, Vec<String>)],
    contracts: &[(String, String)],
) {
    for (g, nodes) in graphs {
        assert!(
            html.contains(&format!("data-graph=\"{}\"", esc(g))),
            "{what}: graph {g}"
        );
        for n in nodes {
            assert!(
                html.contains(&format!("data-node=\"{}\"", esc(n))),
                "{what}: node {g}.{n} not in the SVG"
            );
            assert!(
                html.contains(&format!("data-node-id=\"{}\"", esc(n))),
                "{what}: node {g}.{n} not in the node list"
            );
        }
    }
    for (c, status) in contracts {
        let at = html
            .find(&format!("data-contract=\"{}\"", esc(c)))
            .unwrap_or_else(|| panic!("{what}: contract {c} missing"));
        let head = &html[at..html[at..].find("</h3>").map_or(html.len(), |e| at + e)];
        assert!(
            head.contains(&format!("data-status=\"{status}\"")),
            "{what}: contract {c} should show {status}: {head}"
        );
    }
}

#[test]
fn report_of_every_spec_example_names_every_node_and_contract_status() {
    let dir = TempDir::new("report");
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        eprintln!(
            "skipping the headless render: /usr/bin/chromium is absent (apt-get install chromium)"
        );
    }
    for spec in spec_examples() {
        let stem = spec.file_stem().unwrap().to_str().unwrap().to_string();
        let page = dir.0.join(format!("{stem}.html"));
        let (code, _, err) = run_in(
            &repo_root(),
            &[
                "report",
                spec.to_str().unwrap(),
                "-o",
                page.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{stem}: {err}");
        let html = std::fs::read_to_string(&page).unwrap();
        // Self-contained: nothing fetched at view time.
        for bad in ["src=\"http", "href=\"http", "<link ", "@import", "src=\"//"] {
            assert!(!html.contains(bad), "{stem}: the page fetches ({bad})");
        }
        assert!(html.contains("diagnostic view"), "{stem}");
        assert!(html.contains("the checked artifact rendered"), "{stem}");
        let (graphs, contracts) = expected(&spec);
        check_page(&stem, &html, &graphs, &contracts);
        if chromium.exists() {
            let profile = TempDir::new("chromium");
            let url = format!("file://{}", page.display());
            let base = [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ];
            let user = format!("--user-data-dir={}", profile.0.display());
            let out = std::process::Command::new(chromium)
                .args(base)
                .arg(&user)
                .arg("--dump-dom")
                .arg(&url)
                .output()
                .expect("chromium runs");
            let dom = String::from_utf8_lossy(&out.stdout);
            assert!(
                dom.contains("</html>"),
                "{stem}: no DOM from chromium: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            check_page(&format!("{stem} (chromium DOM)"), &dom, &graphs, &contracts);
            let shot = dir.0.join(format!("{stem}.png"));
            let status = std::process::Command::new(chromium)
                .args(base)
                .arg(&user)
                .arg("--window-size=1200,900")
                .arg(format!("--screenshot={}", shot.display()))
                .arg(&url)
                .output()
                .expect("chromium runs");
            let png = std::fs::read(&shot).unwrap_or_else(|_| {
                panic!(
                    "{stem}: no screenshot: {}",
                    String::from_utf8_lossy(&status.stderr)
                )
            });
            assert!(
                png.starts_with(b"\x89PNG") && png.len() > 10_000,
                "{stem}: screenshot"
            );
        }
    }
}

#[test]
fn report_refuses_bad_requests_with_codes() {
    let dir = TempDir::new("report-bad");
    let spec = repo_root().join("spec-examples/acas_xu_controller.tl");
    let spec = spec.to_str().unwrap();
    let page = dir.0.join("r.html");
    let page = page.to_str().unwrap();
    let (code, _, err) = run_in(
        &dir.0,
        &["report", spec, "--contract", "no_such", "-o", page],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("TL0860") && err.contains("no_such"), "{err}");
    let missing = dir.0.join("no/such/dir/r.html");
    let (code, _, err) = run_in(&dir.0, &["report", spec, "-o", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("TL0861"), "{err}");
    let (code, _, err) = run_in(&dir.0, &["report", spec, "--eps", "-1", "-o", page]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("TL06"), "{err}");
    // One contract: its ledger only, with its graph.
    let (code, _, err) = run_in(
        &dir.0,
        &["report", spec, "--contract", "coc_bounded", "-o", page],
    );
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("data-contract=\"coc_bounded\""));
    assert!(!html.contains("data-contract=\"coc_vnnlib\""));
    assert!(html.contains("data-graph=\"acas_controller\""));
}

/// The `<small>` values of the `col`-th cell of the replay row of `node` (0 = the node name).
fn replay_cell_values(html: &str, node: &str, col: usize) -> Vec<f64> {
    let start = html
        .find(&format!("<tr data-replay-node=\"{node}\">"))
        .unwrap_or_else(|| panic!("no replay row for {node}"));
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    let cell = row.split("<td>").nth(col + 1).expect("cell");
    let small = &cell[cell.find("<small>").expect("values") + 7..cell.find("</small>").unwrap()];
    small
        .split(", ")
        .filter(|v| *v != "...")
        .map(|v| v.parse().unwrap_or_else(|_| panic!("not a number: {v}")))
        .collect()
}

#[test]
fn report_replays_a_falsified_contracts_counterexample_node_by_node() {
    // mnist_mlp with a wrong class: branch and bound finds the digit's own image breaks it.
    let dir = TempDir::new("report-replay");
    let examples = repo_root().join("spec-examples");
    let text = std::fs::read_to_string(examples.join("mnist_mlp.tl")).unwrap();
    let wrong = text
        .replace("\"weights/", &format!("\"{}/weights/", examples.display()))
        .replace("\"data/", &format!("\"{}/data/", examples.display()))
        .replace("argmax(logits) == 7", "argmax(logits) == 3");
    assert_ne!(
        wrong, text,
        "mnist_mlp.tl no longer has the lines this test edits"
    );
    std::fs::write(dir.0.join("wrong.tl"), wrong).unwrap();
    let (code, out, err) = run_in(
        &dir.0,
        &[
            "verify",
            "wrong.tl",
            "--contract",
            "robust_digit_7",
            "--format",
            "json",
            "--no-cache",
        ],
    );
    assert_eq!(code, 1, "falsified is below the bar: {err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cex = report["contracts"][0]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| m["verdict"].get("counterexample"))
        .expect("a counterexample")
        .clone();
    let (code, _, err) = run_in(
        &dir.0,
        &[
            "report",
            "wrong.tl",
            "--verify",
            "--contract",
            "robust_digit_7",
            "-o",
            "r.html",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(dir.0.join("r.html")).unwrap();
    assert!(
        html.contains("<section class=\"replay\">"),
        "no replay section"
    );
    // The bounds view carries the f32 rounding budget of every layer.
    for node in ["x", "h1", "a1", "logits"] {
        assert!(
            html.contains(&format!("data-budget-node=\"{node}\"")),
            "no budget row for {node}"
        );
    }
    // One row per op node of the graph, in graph order.
    let (code, graph, err) = run_in(
        &dir.0,
        &[
            "graph",
            "wrong.tl",
            "--graph",
            "mnist_mlp",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let graph: serde_json::Value = serde_json::from_str(&graph).unwrap();
    let ops: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"]["kind"] == "op")
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    let rows: Vec<&str> = html
        .match_indices("<tr data-replay-node=\"")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(rows, ops, "replay rows vs tlc graph's op nodes");
    // The compiled column of the output row is the counterexample's confirmed output, and the
    // reference column agrees with it to f32 rounding.
    let logits = cex["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o[0] == "logits")
        .expect("logits in the counterexample");
    let want = floats(&logits[2]);
    let compiled = replay_cell_values(&html, "logits", 4);
    let reference = replay_cell_values(&html, "logits", 3);
    assert_eq!(compiled.len(), 8.min(want.len()));
    for ((c, r), w) in compiled.iter().zip(&reference).zip(&want) {
        assert!(
            (c - w).abs() <= 1e-5 * w.abs().max(1.0),
            "compiled {c} vs confirmed {w}"
        );
        assert!(
            (r - w).abs() <= 1e-4 * w.abs().max(1.0),
            "reference {r} vs confirmed {w}"
        );
    }
}

#[test]
fn report_shows_the_gradient_tape_of_a_gradient_contracts_graph() {
    let dir = TempDir::new("report-tape");
    let spec = repo_root().join("spec-examples/regression_training.tl");
    let spec = spec.to_str().unwrap();
    let (code, _, err) = run_in(&dir.0, &["report", spec, "-o", "r.html"]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(dir.0.join("r.html")).unwrap();
    let at = html
        .find("<section class=\"tape\">")
        .expect("a tape section for the gradient contract's graph");
    let section = &html[at..at + html[at..].find("</section>").unwrap()];
    let rows: Vec<&str> = section
        .match_indices("<tr data-tape-node=\"")
        .map(|(i, m)| {
            let rest = &section[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    // Every op node of the lowered graph is on the tape, the output first, whose adjoint is 1.
    let (code, graph, err) = run_in(
        &dir.0,
        &[
            "graph",
            spec,
            "--graph",
            "training_loss",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let graph: serde_json::Value = serde_json::from_str(&graph).unwrap();
    for n in graph["nodes"].as_array().unwrap() {
        if n["kind"]["kind"] == "op" {
            let name = n["name"].as_str().unwrap();
            assert!(
                rows.contains(&name),
                "{name} missing from the tape {rows:?}"
            );
        }
    }
    assert_eq!(rows.first(), Some(&"loss"));
    let first = &section[section.find("<tr data-tape-node=\"loss\">").unwrap()..];
    assert!(
        first.contains("[1.0000e0, 1.0000e0]"),
        "d loss / d loss is 1: {}",
        &first[..first.find("</tr>").unwrap()]
    );
    // A graph no gradient contract is on gets no tape.
    let spec = repo_root().join("spec-examples/acas_xu_controller.tl");
    let (code, _, err) = run_in(&dir.0, &["report", spec.to_str().unwrap(), "-o", "a.html"]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(dir.0.join("a.html")).unwrap();
    assert!(!html.contains("<section class=\"tape\">"));
}
