//! external("FILE"): another verifier's answer, read from its result file, as evidence that rests
//! on the contract's named `solver` assumption (analysis refuses the method without one, TL0461).
//!
//! The file is what `tl-vnnlib verify` (or any VNN-LIB 2.0 solver) prints, or a VNN-COMP result:
//! the first line `unsat`, `sat`, `unknown` or `timed-out`/`timeout`. `unsat` holds and grants at
//! most **assumed** (tl does not re-check it; the solver assumption is the link). `sat` counts only
//! when its assignment (the 2.0 command-line format's first variable, or VNN-COMP's `(X_i v)`
//! pairs) lies in the contract's input box and the compiled f32 executor, run at it, breaks the
//! claim: then it is a confirmed counterexample (falsified). Anything else is unknown.

use super::bounds::{confirm, problem};
use super::{Cx, Failure};
use crate::outcome::Verdict;

/// The input values of a `sat` answer: the first declared variable's values (2.0 command-line
/// format), or every `(X_i v)` pair (VNN-COMP), by index.
fn assignment(rest: &[&str]) -> Option<Vec<f64>> {
    let text = rest.join("\n");
    if text.contains("X_") {
        let mut pairs: Vec<(usize, f64)> = Vec::new();
        for chunk in text.split('(') {
            let mut it = chunk
                .split(|c: char| c.is_whitespace() || c == ')')
                .filter(|t| !t.is_empty());
            if let (Some(name), Some(v)) = (it.next(), it.next()) {
                if let Some(i) = name.strip_prefix("X_") {
                    pairs.push((i.parse().ok()?, v.parse().ok()?));
                }
            }
        }
        pairs.sort_by_key(|p| p.0);
        if pairs.iter().enumerate().any(|(k, p)| p.0 != k) {
            return None;
        }
        return Some(pairs.into_iter().map(|p| p.1).collect());
    }
    let mut lines = rest.iter().map(|l| l.trim()).filter(|l| !l.is_empty());
    let header = lines.next()?;
    if header.parse::<f64>().is_ok() {
        return None;
    }
    let mut values = Vec::new();
    for l in lines {
        match l.parse::<f64>() {
            Ok(v) => values.push(v),
            Err(_) => break,
        }
    }
    Some(values)
}

pub(super) fn run(cx: &Cx, path: &str) -> Result<(Verdict, String), Failure> {
    let file =
        cx.p.file
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(path);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", file.display())))?;
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.first().map_or("", |l| l.trim());
    let on = if cx.p.rests_on.is_empty() {
        "no named assumption".to_string()
    } else {
        cx.p.rests_on.join(", ")
    };
    match first {
        "unsat" => Ok((
            Verdict::Holds,
            format!(
                "an external solver answered unsat ({}); tl did not re-check it: the answer rests on {on} (at most assumed)",
                file.display()
            ),
        )),
        "sat" => {
            let Some(x) = assignment(&lines[1..]) else {
                return Ok((
                    Verdict::Unknown {
                        reason: format!(
                            "{}: `sat` without an assignment tl can read",
                            file.display()
                        ),
                    },
                    String::new(),
                ));
            };
            let p = problem(cx)?;
            let inside = p.property.n_inputs == x.len()
                && p.property.cases.iter().any(|c| c.input.contains(&x));
            if !inside {
                return Ok((
                    Verdict::Unknown {
                        reason: format!(
                            "{}: the solver's assignment ({} values) is not a point of the contract's input set",
                            file.display(),
                            x.len()
                        ),
                    },
                    String::new(),
                ));
            }
            Ok(match confirm(cx, &p, &x)? {
                Some(cex) => (
                    Verdict::Violated {
                        counterexample: cex,
                    },
                    format!(
                        "an external solver answered sat ({}); its assignment, replayed on the compiled f32 executor, breaks the claim",
                        file.display()
                    ),
                ),
                None => (
                    Verdict::Unknown {
                        reason: format!(
                            "{}: the solver's sat assignment does not break the claim on the compiled f32 executor",
                            file.display()
                        ),
                    },
                    String::new(),
                ),
            })
        }
        "unknown" | "timed-out" | "timeout" => Ok((
            Verdict::Unknown {
                reason: format!("the external solver answered {first} ({})", file.display()),
            },
            String::new(),
        )),
        other => Err(Failure::input(format!(
            "{}: the first line `{other}` is not a verifier's answer (unsat, sat, unknown, timed-out)",
            file.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::assignment;

    #[test]
    fn reads_both_assignment_formats() {
        assert_eq!(
            assignment(&["X float32 [1,2]", "0.5", "-1", "Y float32 [1,1]", "3"]),
            Some(vec![0.5, -1.0])
        );
        assert_eq!(
            assignment(&["((X_1 0.25)", " (X_0 -0.5)", " (Y_0 2.0))"]),
            Some(vec![-0.5, 0.25])
        );
        assert_eq!(assignment(&["((X_1 0.25))"]), None, "X_0 is missing");
        assert_eq!(assignment(&[]), None);
    }
}

#[cfg(test)]
mod run_tests {
    use std::path::Path;

    use super::super::{run_contract, ContractRun, VerifyOptions};
    use crate::contracts::analyze_contract;
    use crate::items::file_items;
    use crate::outcome::Status;
    use crate::RootDatabase;
    use tl_syntax::ItemKeyword;

    const SPEC: &str = "graph swap(x: f32[1, 2]) -> scores: f32[1, 2] {\n  param w: f32[2, 2] = [[1.0, 0.0], [0.0, 1.0]]\n  scores = linear(x, w)\n}\n\
        assume solver other: \"the other verifier answers VNN-LIB queries correctly\"\n\
        contract c on swap {\n  given x in linf_ball([[0.5, 0.5]], eps = 0.05)\n  ensure argmax(scores) == 0\n  rests on other\n  check by external(\"answer.txt\")\n}\n\
        contract bare on swap {\n  given x in linf_ball([[0.5, 0.5]], eps = 0.05)\n  ensure argmax(scores) == 0\n  check by external(\"answer.txt\")\n}\n";

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("tl-external-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn run(d: &Path, answer: &str) -> ContractRun {
        std::fs::write(d.join("answer.txt"), answer).unwrap();
        let mut db = RootDatabase::default();
        let file = db.set_source_text(&d.join("spec.tl"), SPEC.to_string());
        db.settle(&[file]);
        let item = file_items(&db, file)
            .iter()
            .copied()
            .find(|i| {
                i.keyword(&db) == ItemKeyword::Contract && i.name(&db).as_deref() == Some("c")
            })
            .unwrap();
        run_contract(&db, item, &VerifyOptions::default())
    }

    #[test]
    fn an_external_answer_is_assumed_or_replayed() {
        let d = dir("answers");
        // unsat: the solver's word, resting on its assumption: assumed, never checked.
        let r = run(&d, "unsat\n");
        assert_eq!(r.status, Status::Assumed, "{:?}", r.outcome.methods);
        assert_eq!(r.evidence_status, Status::Assumed);
        // sat with a point that breaks argmax == 0 on the executor: falsified.
        let r = run(
            &d,
            "sat\nX float32 [1,2]\n0.45\n0.55\nscores float32 [1,2]\n0.45\n0.55\n",
        );
        assert_eq!(r.status, Status::Falsified, "{:?}", r.outcome.methods);
        // VNN-COMP's format too.
        let r = run(
            &d,
            "sat\n((X_0 0.46)\n (X_1 0.54)\n (Y_0 0.46)\n (Y_1 0.54))\n",
        );
        assert_eq!(r.status, Status::Falsified, "{:?}", r.outcome.methods);
        // A sat whose point does not break the claim, or lies outside the ball: not evidence.
        for bad in [
            "sat\nX float32 [1,2]\n0.55\n0.45\n",
            "sat\nX float32 [1,2]\n0.0\n1.0\n",
        ] {
            let r = run(&d, bad);
            assert_eq!(
                r.status,
                Status::Uncovered,
                "{bad}: {:?}",
                r.outcome.methods
            );
        }
        // Not an answer: an error, uncovered.
        let r = run(&d, "proved it, trust me\n");
        assert_eq!(r.status, Status::Uncovered, "{:?}", r.outcome.methods);
        assert!(r.errored());
    }

    #[test]
    fn external_without_a_solver_assumption_is_refused() {
        let d = dir("bare");
        let mut db = RootDatabase::default();
        let file = db.set_source_text(&d.join("spec.tl"), SPEC.to_string());
        db.settle(&[file]);
        let item = file_items(&db, file)
            .iter()
            .copied()
            .find(|i| i.name(&db).as_deref() == Some("bare"))
            .unwrap();
        let codes: Vec<u16> = analyze_contract(&db, item)
            .as_ref()
            .unwrap()
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect();
        assert!(codes.contains(&461), "{codes:?}");
    }
}
