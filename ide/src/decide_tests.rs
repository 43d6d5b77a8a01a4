//! "The ledger decides the status" is one function (`ledger::contract_ledger_with`); `tlc verify`
//! (`Analysis::decide_statuses`), the server (`Analysis::statuses_with_runs`) and `tlc trust
//! --verify` (`Analysis::trust_report`) each ask it. Over the same spec they print the same bytes.

use std::path::{Path, PathBuf};

use crate::verify::{execute, ContractRun, Memo, VerifyOptions};
use crate::{AnalysisHost, Change};

fn statuses_three_ways(spec: &Path) -> (String, String, String) {
    let mut host = AnalysisHost::new();
    let mut change = Change::new();
    change.load_file(spec);
    host.apply_change(change);
    host.settle(&[spec.to_path_buf()]);
    let a = host.analysis();
    let opts = VerifyOptions::default();

    // As `tlc verify` does: prepare each contract, run it, then the ledger decides.
    let refs = a.contracts(spec).unwrap();
    let memo = Memo::default();
    let mut runs: Vec<ContractRun> = refs
        .iter()
        .map(|c| {
            execute(
                &a.prepare_contract(c, &opts).unwrap().unwrap(),
                &opts,
                &memo,
            )
        })
        .collect();
    a.decide_statuses(&refs, &mut runs).unwrap();
    let cli: String = refs
        .iter()
        .zip(&runs)
        .map(|(c, r)| format!("{} {}\n", c.name, r.status.name()))
        .collect();

    // As the server does: prepare the file's contracts, run them off the snapshot, ask statuses.
    let memo = Memo::default();
    let server_runs: Vec<ContractRun> = a
        .prepare_contracts(spec, None, &opts)
        .unwrap()
        .iter()
        .map(|p| execute(p, &opts, &memo))
        .collect();
    let server: String = a
        .statuses_with_runs(spec, &server_runs, &[])
        .unwrap()
        .iter()
        .map(|s| format!("{} {}\n", s.name, s.status))
        .collect();

    // As `tlc trust --verify` does.
    let report = a.trust_report(&[spec.to_path_buf()], true, &opts).unwrap();
    let trust: String = report.files[0]
        .contracts
        .iter()
        .map(|l| format!("{} {}\n", l.contract, l.status.name()))
        .collect();
    (cli, server, trust)
}

#[test]
fn cli_server_and_trust_report_give_the_same_statuses() {
    let examples: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec-examples");
    for name in ["mnist_mlp.tl", "multi_file/model.tl"] {
        let (cli, server, trust) = statuses_three_ways(&examples.join(name));
        assert!(!cli.is_empty(), "{name}: no contracts");
        assert_eq!(cli, server, "{name}: tlc verify vs the server");
        assert_eq!(cli, trust, "{name}: tlc verify vs tlc trust --verify");
    }
}
