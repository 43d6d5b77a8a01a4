//! Analysis speed: cold parse + full analysis of a generated 10,000-node spec, and re-analysis
//! after a one-token edit in one graph of a 50-graph workspace (with the queries it re-ran).
//!
//!     cargo bench -p tl-analysis --bench analysis

use std::path::Path;
use std::time::{Duration, Instant};

use tl_analysis::check::file_diagnostics;
use tl_analysis::testing::generated_spec;
use tl_analysis::RootDatabase;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    println!("| workload | p50 | p95 | notes |");
    println!("|---|---|---|---|");
    for (graphs, nodes) in [(1usize, 10_000usize), (50, 200)] {
        let text = generated_spec(graphs, nodes);
        let mut runs = Vec::new();
        for _ in 0..10 {
            let mut db = RootDatabase::default();
            let start = Instant::now();
            let file = db.set_source_text(Path::new("/bench/cold.tl"), text.clone());
            let diags = file_diagnostics(&db, file);
            runs.push(start.elapsed());
            assert!(diags.iter().all(|d| d.code == 301));
        }
        runs.sort();
        println!(
            "| cold parse + analysis, {graphs} graph(s) x {nodes} nodes ({} KB) | {} | {} | fresh database each run |",
            text.len() / 1024,
            ms(percentile(&runs, 0.5)),
            ms(percentile(&runs, 0.95))
        );
    }

    let text = generated_spec(50, 200);
    let path = Path::new("/bench/ws.tl");
    let mut db = RootDatabase::default();
    let file = db.set_source_text(path, text.clone());
    file_diagnostics(&db, file);
    let at = text.find("graph g17(").expect("g17");
    let node = at + text[at..].find("n1 = relu(").expect("n1");
    let variants = [
        text.clone(),
        format!(
            "{}n1 = tanh({}",
            &text[..node],
            &text[node + "n1 = relu(".len()..]
        ),
    ];
    let mut runs = Vec::new();
    let mut executed = Vec::new();
    for i in 0..100 {
        db.start_logging();
        let start = Instant::now();
        db.set_source_text(path, variants[(i + 1) % 2].clone());
        file_diagnostics(&db, file);
        runs.push(start.elapsed());
        executed = db.take_executions();
    }
    runs.sort();
    let analyses = executed
        .iter()
        .filter(|q| q.starts_with("analyze_graph("))
        .count();
    let parses = executed
        .iter()
        .filter(|q| q.starts_with("parse_item("))
        .count();
    println!(
        "| one-token edit in 1 of 50 graphs (10,000 nodes) | {} | {} | re-ran {} queries: {parses} parse_item, {analyses} analyze_graph |",
        ms(percentile(&runs, 0.5)),
        ms(percentile(&runs, 0.95)),
        executed.len()
    );
    let mut names: Vec<String> = executed
        .iter()
        .map(|q| q.split('(').next().unwrap_or("").to_string())
        .collect();
    names.sort();
    names.dedup();
    println!("\nqueries re-executed after the edit: {}", names.join(", "));
}
