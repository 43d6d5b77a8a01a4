//! tl's IBP and CROWN bounds against auto_LiRPA 0.3 (fixtures from tools/lirpa/make_fixtures.py),
//! alpha-CROWN never looser than CROWN, and every bound containing sampled executions.

mod common;

use common::{fixtures, Rng};
use ndarray::Array2;
use tl_bounds::{compute_bounds, BoundNet, CrownOptions, InputBox, Method};

/// auto_LiRPA's arithmetic, no rounding margins: the numbers must agree to 1e-4 relative.
const REFERENCE: CrownOptions = CrownOptions {
    intersect_ibp: false,
    sound: false,
    f32_executor: false,
};

fn close(ours: &[f64], theirs: &[f64], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let tol = 1e-4 * b.abs().max(1.0);
        assert!(
            (a - b).abs() <= tol,
            "{what}[{i}]: tl {a} vs auto_LiRPA {b} (diff {})",
            (a - b).abs()
        );
    }
}

#[test]
fn ibp_and_crown_match_auto_lirpa() {
    let all = fixtures();
    assert!(all.len() >= 5, "fixtures missing");
    for fx in &all {
        let (g, w) = fx.graph();
        let net = BoundNet::from_graph_map(&g, &w, None).unwrap();
        for (k, case) in fx.cases.iter().enumerate() {
            let b = InputBox::new(case.lower.clone(), case.upper.clone()).unwrap();
            let tag = format!("{} case {k}", fx.name);
            let ibp = compute_bounds(&net, &b, Method::Ibp, None, REFERENCE).unwrap();
            close(&ibp.lower, &case.ibp.lower, &format!("{tag} ibp lower"));
            close(&ibp.upper, &case.ibp.upper, &format!("{tag} ibp upper"));
            let crown = compute_bounds(&net, &b, Method::Crown, None, REFERENCE).unwrap();
            close(
                &crown.lower,
                &case.crown.lower,
                &format!("{tag} crown lower"),
            );
            close(
                &crown.upper,
                &case.crown.upper,
                &format!("{tag} crown upper"),
            );
            let rows = case.spec.c.len();
            let c = Array2::from_shape_fn((rows, case.spec.c[0].len()), |(r, j)| case.spec.c[r][j]);
            let spec = compute_bounds(&net, &b, Method::Crown, Some(&c), REFERENCE).unwrap();
            close(&spec.lower, &case.spec.lower, &format!("{tag} spec lower"));
            close(&spec.upper, &case.spec.upper, &format!("{tag} spec upper"));
        }
    }
}

#[test]
fn sound_bounds_contain_the_reference_and_sampled_executions() {
    let mut rng = Rng(7);
    for fx in &fixtures() {
        let (g, w) = fx.graph();
        let net = BoundNet::from_graph_map(&g, &w, None).unwrap();
        for case in &fx.cases {
            let b = InputBox::new(case.lower.clone(), case.upper.clone()).unwrap();
            for method in [
                Method::Ibp,
                Method::Crown,
                Method::AlphaCrown { iters: 20, lr: 0.1 },
            ] {
                let ob = compute_bounds(&net, &b, method, None, CrownOptions::default()).unwrap();
                for _ in 0..300 {
                    let x = rng.point(&case.lower, &case.upper);
                    for (j, y) in net
                        .exec
                        .as_ref()
                        .unwrap()
                        .reference(&x)
                        .unwrap()
                        .iter()
                        .enumerate()
                    {
                        assert!(
                            ob.lower[j] <= *y && *y <= ob.upper[j],
                            "{} {method:?}: output {j} = {y} outside [{}, {}]",
                            fx.name,
                            ob.lower[j],
                            ob.upper[j]
                        );
                    }
                }
            }
            // Sound CROWN (without the IBP intersection) is the reference widened by rounding
            // margins only.
            let opts = CrownOptions {
                intersect_ibp: false,
                sound: true,
                f32_executor: false,
            };
            let sound = compute_bounds(&net, &b, Method::Crown, None, opts).unwrap();
            for j in 0..sound.lower.len() {
                let tol = 1e-9 * case.crown.lower[j].abs().max(1.0);
                assert!(sound.lower[j] <= case.crown.lower[j] + tol.max(1e-6));
                assert!(sound.upper[j] >= case.crown.upper[j] - tol.max(1e-6));
            }
        }
    }
}

#[test]
fn alpha_crown_is_never_looser_than_crown() {
    let mut improved = 0;
    for fx in &fixtures() {
        let (g, w) = fx.graph();
        let net = BoundNet::from_graph_map(&g, &w, None).unwrap();
        for case in &fx.cases {
            let b = InputBox::new(case.lower.clone(), case.upper.clone()).unwrap();
            let crown =
                compute_bounds(&net, &b, Method::Crown, None, CrownOptions::default()).unwrap();
            let alpha = compute_bounds(
                &net,
                &b,
                Method::AlphaCrown { iters: 30, lr: 0.1 },
                None,
                CrownOptions::default(),
            )
            .unwrap();
            for j in 0..crown.lower.len() {
                assert!(alpha.lower[j] >= crown.lower[j], "{} lower {j}", fx.name);
                assert!(alpha.upper[j] <= crown.upper[j], "{} upper {j}", fx.name);
                if alpha.lower[j] > crown.lower[j] + 1e-6 {
                    improved += 1;
                }
            }
        }
    }
    assert!(improved > 0, "alpha-CROWN never tightened any bound");
}
