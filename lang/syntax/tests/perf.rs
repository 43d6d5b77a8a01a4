//! Throughput measurements; run with
//! `cargo test --release -p tl-syntax --test perf -- --ignored --nocapture`.

use std::time::Instant;

fn big_file(target_bytes: usize) -> String {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/transformer.tl"
    ))
    .expect("fixture exists");
    let mut text = String::with_capacity(target_bytes + unit.len());
    while text.len() < target_bytes {
        text.push_str(&unit);
        text.push('\n');
    }
    text
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> std::time::Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

#[test]
#[ignore = "a measurement, not a check; run in release"]
fn measure_400kb() {
    let text = big_file(400 * 1024);
    let split = best_of(50, || tl_syntax::split_items(&text));
    let parse = best_of(5, || tl_syntax::parse_file(&text));
    let format = best_of(5, || tl_syntax::format(&text).expect("formats"));
    println!(
        "{} bytes, {} items: split {:?}, parse_file {:?}, format {:?}",
        text.len(),
        tl_syntax::split_items(&text).len(),
        split,
        parse,
        format
    );
}
