//! Generated workloads shared by the incremental tests and the benchmarks.

/// A spec of `graphs` graphs with `nodes` nodes each, mixing linear layers, activations,
/// elementwise ops with broadcasting and residual adds, so shape inference does real work.
pub fn generated_spec(graphs: usize, nodes: usize) -> String {
    let mut s = String::with_capacity(graphs * nodes * 48);
    s.push_str("tolerance fp32 = abs 1e-5, rel 1e-4\n\n");
    for g in 0..graphs {
        s.push_str(&format!(
            "/// Generated graph {g}.\ngraph g{g}(x: f32[B, 64]) -> y: f32[B, 64] within fp32 {{\n"
        ));
        s.push_str(&format!("  param w{g}: f32[64, 64] = load(\"w.npy\")\n"));
        s.push_str(&format!("  param b{g}: f32[64] = load(\"b.npy\")\n"));
        let mut prev = "x".to_string();
        for i in 0..nodes {
            let line = match i % 4 {
                0 => format!("  n{i} = linear({prev}, w{g}, b{g})\n"),
                1 => format!("  n{i} = relu({prev})\n"),
                2 => format!("  n{i} = add({prev}, b{g})\n"),
                _ => format!("  n{i} = mul({prev}, 0.5)\n"),
            };
            s.push_str(&line);
            prev = format!("n{i}");
        }
        s.push_str(&format!("  y = tanh({prev})\n}}\n\n"));
    }
    s
}

/// Replaces the measured values in sampling evidence ("worst output error 5.1e-7 at logits[0, 5]")
/// with `[sampled]`: they depend on the CPU's floating-point instructions (FMA, vector width), so
/// snapshots must not pin them.
pub fn redact_sampled_numbers(text: &str) -> String {
    const MARKERS: [&str; 3] = [
        "worst output error ",
        "worst node error ",
        "largest engine difference ",
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = MARKERS
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i, m.len())))
            .min();
        let Some((i, len)) = next else { break };
        out.push_str(&rest[..i + len]);
        out.push_str("[sampled]");
        let tail = &rest[i + len..];
        let end = tail.find([';', '<', '\n', '|']).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
