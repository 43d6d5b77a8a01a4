//! Good and mutated transition records: every check fails on a mutated record, named by line.

use super::*;

fn contract() -> TransitionContract {
    TransitionContract {
        obs_shape: vec![2],
        obs_dtype: ObsDtype::F32,
        action: ActionSpace::Discrete(4),
        reward: (-0.01, 1.0),
    }
}

/// A seeded random walk on a 4x4 grid, one JSON record per line (episodes of random length).
fn random_records(seed: u64) -> Vec<serde_json::Value> {
    let mut s = seed;
    let mut next = move |n: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    let mut out = Vec::new();
    for episode in 0..5 {
        let mut pos = [next(4) as f64, next(4) as f64];
        let len = 2 + next(6);
        for step in 0..len {
            let action = next(4) as i64;
            let d = [(-1.0, 0.0), (0.0, 1.0), (1.0, 0.0), (0.0, -1.0)][action as usize];
            let nxt = [
                (pos[0] + d.0).clamp(0.0, 3.0),
                (pos[1] + d.1).clamp(0.0, 3.0),
            ];
            let last = step + 1 == len;
            let terminated = last && next(2) == 0;
            out.push(serde_json::json!({
                "episode": episode, "obs": pos, "action": action,
                "reward": if terminated { 1.0 } else { -0.01 },
                "next_obs": nxt, "terminated": terminated, "truncated": last && !terminated,
            }));
            pos = nxt;
        }
    }
    out
}

fn text(records: &[serde_json::Value]) -> String {
    records.iter().map(|r| r.to_string() + "\n").collect()
}

fn codes_at(report: &TransitionReport) -> Vec<(u16, usize)> {
    report.errors.iter().map(|e| (e.code, e.line)).collect()
}

#[test]
fn random_walk_records_hold() {
    for seed in 0..20 {
        let records = random_records(seed);
        let report = check_text(&text(&records), &contract());
        assert!(report.holds(), "seed {seed}: {:?}", report.errors);
        assert_eq!(report.records, records.len());
    }
}

#[test]
fn committed_gridworld_records_hold() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec-examples/rl_gridworld/transitions.jsonl");
    let report = check_file(&path, &contract());
    assert!(report.holds(), "{:?}", report.errors);
    assert!(report.records > 50);
}

/// Each mutation breaks one check of one record; the report names exactly that code and line.
#[test]
fn every_check_fails_on_a_mutated_record() {
    type Mutation = (u16, fn(&mut serde_json::Value));
    let mutations: Vec<Mutation> = vec![
        (483, |r| r["obs"] = serde_json::json!([0.0, 1.0, 2.0])),
        (483, |r| r["next_obs"] = serde_json::json!([[0.0, 1.0]])),
        (485, |r| r["action"] = serde_json::json!(4)),
        (485, |r| r["action"] = serde_json::json!(-1)),
        (482, |r| r["action"] = serde_json::json!(1.5)),
        (482, |r| r["terminated"] = serde_json::json!(0)),
        (482, |r| {
            r.as_object_mut().unwrap().remove("reward");
        }),
        (482, |r| r["obs"] = serde_json::json!(["a", 0.0])),
        (486, |r| r["reward"] = serde_json::json!(2.5)),
        (487, |r| {
            r["terminated"] = serde_json::json!(true);
            r["truncated"] = serde_json::json!(true);
        }),
    ];
    for seed in 0..8u64 {
        let records = random_records(seed);
        for (i, (code, mutate)) in mutations.iter().enumerate() {
            // The last record: no later record is affected by a changed terminal flag.
            let at = records.len() - 1;
            let mut bad = records.clone();
            mutate(&mut bad[at]);
            let report = check_text(&text(&bad), &contract());
            assert_eq!(
                codes_at(&report),
                vec![(*code, at + 1)],
                "mutation {i} seed {seed}"
            );
        }
    }
}

#[test]
fn record_after_terminal_and_broken_continuity_are_named() {
    let records = random_records(3);
    // Drop the episode ids' reset: relabel the second episode's first record as the first's.
    let first_end = records
        .iter()
        .position(|r| r["terminated"] == true || r["truncated"] == true)
        .unwrap();
    let mut bad = records.clone();
    bad[first_end + 1]["episode"] = bad[first_end]["episode"].clone();
    let report = check_text(&text(&bad), &contract());
    assert_eq!(codes_at(&report), vec![(488, first_end + 2)]);

    let mut bad = records.clone();
    let mid = (0..records.len() - 1)
        .find(|&i| records[i]["episode"] == records[i + 1]["episode"])
        .unwrap();
    let o = bad[mid + 1]["obs"][0].as_f64().unwrap();
    bad[mid + 1]["obs"][0] = serde_json::json!(3.0 - o + 0.5);
    let report = check_text(&text(&bad), &contract());
    assert_eq!(codes_at(&report), vec![(489, mid + 2)]);
}

#[test]
fn bad_files_are_coded_never_a_panic() {
    let good = text(&random_records(1));
    let lines: Vec<&str> = good.lines().collect();
    // Truncated JSON on line 2.
    let cut = format!("{}\n{}\n", lines[0], &lines[1][..lines[1].len() / 2]);
    assert_eq!(codes_at(&check_text(&cut, &contract())), vec![(482, 2)]);
    // NaN as Python writes it.
    let nan = format!("{}\n{}\n", lines[0], lines[1].replacen("-0.01", "NaN", 1));
    let nan = if nan.contains("NaN") {
        nan
    } else {
        format!("{}\n{}\n", lines[0], lines[1].replacen("1.0,", "NaN,", 1))
    };
    assert_eq!(codes_at(&check_text(&nan, &contract())), vec![(484, 2)]);
    // A huge line is refused by length, then the next line is still read.
    let huge = format!(
        "{}\n{}\n{}\n",
        lines[0],
        "[".repeat(MAX_LINE_BYTES + 10),
        lines[1]
    );
    let report = check_text(&huge, &contract());
    assert_eq!(codes_at(&report), vec![(481, 2)]);
    // Not an object, not UTF-8, empty, missing.
    assert_eq!(
        codes_at(&check_text("[1, 2]\n", &contract())),
        vec![(482, 1)]
    );
    let bytes: &[u8] = b"\xff\xfe\n";
    assert_eq!(codes_at(&check_reader(bytes, &contract())), vec![(482, 1)]);
    assert_eq!(codes_at(&check_text("\n\n", &contract())), vec![(480, 0)]);
    let missing = check_file(std::path::Path::new("/nonexistent/run.jsonl"), &contract());
    assert_eq!(codes_at(&missing), vec![(480, 0)]);
}

#[test]
fn box_actions_are_checked_element_wise() {
    let c = TransitionContract {
        obs_shape: vec![1],
        obs_dtype: ObsDtype::F32,
        action: ActionSpace::Box {
            lower: vec![-1.0, 0.0],
            upper: vec![1.0, 2.0],
        },
        reward: (-1.0, 1.0),
    };
    let rec = |a: serde_json::Value| {
        serde_json::json!({"obs": [0.0], "action": a, "reward": 0.0, "next_obs": [0.0],
            "terminated": true, "truncated": false})
        .to_string()
            + "\n"
    };
    assert!(check_text(&rec(serde_json::json!([0.5, 1.5])), &c).holds());
    assert_eq!(
        codes_at(&check_text(&rec(serde_json::json!([0.5, 2.5])), &c)),
        vec![(485, 1)]
    );
    assert_eq!(
        codes_at(&check_text(&rec(serde_json::json!([0.5])), &c)),
        vec![(483, 1)]
    );
    assert_eq!(
        codes_at(&check_text(&rec(serde_json::json!([[0.5, 1.0]])), &c)),
        vec![(483, 1)]
    );
}

#[test]
fn every_transitions_code_is_documented() {
    for code in 480..=489 {
        assert!(crate::diagnostics::explain(code).is_some(), "TL{code:04}");
    }
}
