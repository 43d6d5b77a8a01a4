//! Every shipped VNN-LIB 1.0 property (../shared/acasxu, ../shared/vnncomp2021) converts to 2.0
//! and back to the same constraint set; the 2.0 text and the 1.0 text the writer prints read back
//! to it too. Skips with a printed reason when the benchmark data is absent.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tl_bounds::{vnnlib, vnnlib2};

/// The first `shared` folder beside an ancestor of this crate (the worktree's `../shared`).
fn shared() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared"))
        .find(|p| p.join("acasxu").is_dir() || p.join("vnncomp2021").is_dir())
}

fn vnnlib_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            vnnlib_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "vnnlib") {
            out.push(p);
        }
    }
}

#[test]
fn shipped_properties_round_trip_through_2_0() {
    let Some(root) = shared() else {
        eprintln!("skipping: no ../shared with acasxu or vnncomp2021 beside the worktree");
        return;
    };
    let mut files = Vec::new();
    vnnlib_files(&root.join("acasxu"), &mut files);
    vnnlib_files(&root.join("vnncomp2021"), &mut files);
    assert!(!files.is_empty(), "no .vnnlib under {}", root.display());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert_eq!(vnnlib::detect_version(&text), 1, "{}", f.display());
        let p = vnnlib::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let q = vnnlib2::from_property(&p);
        let t2 = vnnlib2::write(&q);
        assert_eq!(vnnlib::detect_version(&t2), 2);
        let q2 = vnnlib2::parse(&t2).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(q2.to_property().unwrap(), p, "2.0 of {}", f.display());
        assert_eq!(
            vnnlib::parse(&t2).unwrap(),
            p,
            "dispatch of {}",
            f.display()
        );
        let t1 = vnnlib::write_v1(&q2.to_property().unwrap());
        assert_eq!(
            vnnlib::parse_v1(&t1).unwrap(),
            p,
            "1.0 again of {}",
            f.display()
        );
    }
    eprintln!("{} properties round-trip", files.len());
}

#[test]
fn a_cifar_property_parses_in_milliseconds() {
    let Some(root) = shared() else {
        eprintln!("skipping: no ../shared with vnncomp2021 beside the worktree");
        return;
    };
    let mut files = Vec::new();
    vnnlib_files(&root.join("vnncomp2021"), &mut files);
    let Some(big) = files
        .iter()
        .max_by_key(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
    else {
        eprintln!("skipping: no vnncomp2021 properties");
        return;
    };
    let text = std::fs::read_to_string(big).unwrap();
    let p = vnnlib::parse(&text).unwrap();
    let t2 = vnnlib2::write(&vnnlib2::from_property(&p));
    let best = |f: &dyn Fn()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::INFINITY, f64::min)
    };
    let v1 = best(&|| {
        vnnlib::parse(&text).unwrap();
    });
    let v2 = best(&|| {
        vnnlib2::parse(&t2).unwrap();
    });
    let v2p = best(&|| {
        vnnlib2::parse(&t2).unwrap().to_property().unwrap();
    });
    eprintln!(
        "{} ({} KB 1.0, {} KB as 2.0): 1.0 parse+lower {v1:.2} ms; 2.0 parse+check {v2:.2} ms; 2.0 parse+lower {v2p:.2} ms (best of 5)",
        big.display(),
        text.len() / 1024,
        t2.len() / 1024
    );
}
