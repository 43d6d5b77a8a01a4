//! The sound bounds converge as the box shrinks: the f64 rounding widening is charged from the
//! magnitudes the network takes on the box (docs/bounds.md), so a tiny box gets tiny bounds.
//! (Propagating a norm with each layer's largest row sum instead left about 1e-3 of width on
//! every ACAS Xu box, however small.)

mod common;

use std::path::PathBuf;

use tl_bounds::{compute_bounds, BoundNet, CrownOptions, InputBox, Instance, Method};

/// CROWN over the reals on a box of radius `r` around `x`: every bound within `tol` of f(x).
fn assert_tight(net: &BoundNet, x: &[f64], r: f64, tol: f64, label: &str) {
    let b = InputBox::new(
        x.iter().map(|v| v - r).collect(),
        x.iter().map(|v| v + r).collect(),
    )
    .unwrap();
    let opts = CrownOptions {
        f32_executor: false,
        ..CrownOptions::default()
    };
    let bounds = compute_bounds(net, &b, Method::Crown, None, opts).unwrap();
    let y = net.exec.as_ref().unwrap().reference(x).unwrap();
    for (k, v) in y.iter().enumerate() {
        let (lo, hi) = (bounds.lower[k], bounds.upper[k]);
        assert!(
            lo <= *v && *v <= hi,
            "{label}: y{k} = {v} outside [{lo}, {hi}]"
        );
        let scale = 1.0 + v.abs();
        assert!(
            hi - lo < tol * scale,
            "{label}: y{k} bounds [{lo}, {hi}] are {:e} wide on a box of radius {r:e}",
            hi - lo
        );
    }
}

#[test]
fn fixture_bounds_shrink_to_rounding_size() {
    for fx in common::fixtures() {
        let (g, w) = fx.graph();
        let net = BoundNet::from_graph_map(&g, &w, None).unwrap();
        for (i, case) in fx.cases.iter().enumerate() {
            let centre: Vec<f64> = case
                .lower
                .iter()
                .zip(&case.upper)
                .map(|(l, u)| l + (u - l) / 2.0)
                .collect();
            assert_tight(&net, &centre, 1e-12, 1e-9, &format!("{} case {i}", fx.name));
        }
    }
}

#[test]
fn acas_xu_bounds_shrink_to_rounding_size() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/acasxu");
    if !dir.exists() {
        eprintln!("skipping: {} is absent", dir.display());
        return;
    }
    let inst = Instance::load(
        &dir.join("ACASXU_run2a_1_1_batch_2000.onnx"),
        &dir.join("prop_5.vnnlib"),
    )
    .unwrap();
    let net = inst.net().unwrap();
    // The point where the old widening stalled branch and bound on prop_5.
    let x = [
        -0.324274257,
        0.0617988228562,
        -0.4992041210000014,
        -0.495730280332,
        -0.42024739094,
    ];
    assert_tight(&net, &x, 1e-15, 1e-10, "ACAS Xu 1_1");
}
