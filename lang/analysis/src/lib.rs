//! tl semantic model: the salsa database, name and shape analysis, diagnostics, the proof catalog,
//! the trust ledger and check orchestration, behind an `ide`-style facade that the CLI and the
//! language server both call (so they cannot disagree).

pub mod catalog;
