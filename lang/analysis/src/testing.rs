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
