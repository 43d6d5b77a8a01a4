//! ACAS Xu benchmark: every instance of acasxu_instances.csv with its time limit, and the time of
//! one CROWN pass on one network.
//!
//! cargo run --release -p tl-bounds --bin acas_bench -- [--dir ../shared/acasxu] [--limit N]
//!     [--timeout-scale F] [--only prop_2] [--match 1_9_batch]
//!     [--crown-only] [--reals]
//!
//! `--reals` decides the properties over the reals only (VNN-COMP's reading); by default every
//! answer also holds for an f32 executor (docs/bounds.md).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tl_bounds::attack::{attack, AttackConfig, Rng};
use tl_bounds::{
    check_certificate, compute_bounds, BabConfig, CrownOptions, Instance, Method, Verdict,
};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/acasxu");
    let dir = arg(&args, "--dir").map(PathBuf::from).unwrap_or(root);
    if !dir.exists() {
        eprintln!("skipping: {} is absent", dir.display());
        return;
    }
    let limit: usize = arg(&args, "--limit").map_or(usize::MAX, |v| v.parse().unwrap());
    let scale: f64 = arg(&args, "--timeout-scale").map_or(1.0, |v| v.parse().unwrap());
    let only = arg(&args, "--only");
    let matching = arg(&args, "--match");

    // CROWN timing on network 1_1 over prop_1's box.
    let inst = Instance::load(
        &dir.join("ACASXU_run2a_1_1_batch_2000.onnx"),
        &dir.join("prop_1.vnnlib"),
    )
    .expect("load 1_1");
    let net = inst.net().unwrap();
    let input = &inst.property.cases[0].input;
    let reps = 2000;
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(
            compute_bounds(&net, input, Method::Crown, None, CrownOptions::default()).unwrap(),
        );
    }
    let per = t.elapsed().as_secs_f64() / reps as f64;
    println!("crown_1_1_prop1_s {per:.3e} (median of {reps} runs' mean)");
    if args.iter().any(|a| a == "--crown-only") {
        return;
    }

    let csv = std::fs::read_to_string(dir.join("acasxu_instances.csv")).unwrap();
    let (mut solved, mut sat, mut unsat, mut wrong, mut cert_ok, mut total) = (0, 0, 0, 0, 0, 0);
    let all = Instant::now();
    for line in csv.lines().filter(|l| !l.trim().is_empty()).take(limit) {
        let parts: Vec<&str> = line.split(',').collect();
        if only
            .as_deref()
            .is_some_and(|o| parts[1] != format!("{o}.vnnlib"))
            || matching.as_deref().is_some_and(|m| !line.contains(m))
        {
            continue;
        }
        total += 1;
        let secs: f64 = parts[2].trim().parse().unwrap();
        let inst = Instance::load(&dir.join(parts[0]), &dir.join(parts[1])).unwrap();
        let cfg = BabConfig {
            timeout: Duration::from_secs_f64(secs * scale),
            certificate: true,
            f32_executor: !args.iter().any(|a| a == "--reals"),
            alpha_iters: arg(&args, "--alpha")
                .map_or(BabConfig::default().alpha_iters, |v| v.parse().unwrap()),
            ..BabConfig::default()
        };
        let t = Instant::now();
        let res = inst.run(&cfg).unwrap();
        let dt = t.elapsed().as_secs_f64();
        let word = match &res.verdict {
            Verdict::Verified { certificate } => {
                solved += 1;
                unsat += 1;
                // Answer key for unsat: the certificate re-checks and a long attack finds nothing.
                let net = inst.net().unwrap();
                if let Some(c) = certificate {
                    if check_certificate(c, &net, &inst.property, cfg.f32_executor).is_ok() {
                        cert_ok += 1;
                    }
                }
                let strong = AttackConfig {
                    samples: 2000,
                    restarts: 50,
                    steps: 100,
                };
                let mut rng = Rng(99);
                if inst.property.cases.iter().enumerate().any(|(k, c)| {
                    attack(&net, c, k, strong, &mut rng, &tl_bounds::Stop::never()).is_some()
                }) {
                    wrong += 1;
                    "unsat(WRONG)"
                } else {
                    "unsat"
                }
            }
            Verdict::Falsified(_) => {
                solved += 1;
                sat += 1;
                "sat"
            }
            Verdict::Timeout => "timeout",
            Verdict::Unknown(why) => {
                eprintln!("unknown: {why}");
                "unknown"
            }
        };
        println!(
            "{} {} {word} {dt:.2}s domains={} depth={}",
            parts[0], parts[1], res.stats.domains, res.stats.max_depth
        );
    }
    println!(
        "solved {solved}/{total} (unsat {unsat}, sat {sat}), certificates checked {cert_ok}/{unsat}, wrong {wrong}, total {:.1}s",
        all.elapsed().as_secs_f64()
    );
}
