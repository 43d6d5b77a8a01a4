//! tl semantic model: the salsa database, name and shape analysis, diagnostics, the proof catalog,
//! the trust ledger and check orchestration. Front ends do not use it directly: they go through
//! `tl-ide` (ide/), whose `AnalysisHost`/`Analysis` own the database and answer in plain data.
//!
//! Query layers, each depending only on the ones above it:
//! - `db`: inputs (source texts, external file stamps);
//! - `items`: a file split into items, each parsed on its own (`parse_item`), top-level names;
//! - `scope`: imports and name lookup across files;
//! - `graphs`: graph signatures and bodies (names, ops, attributes, shapes, dtypes);
//! - `contracts`: contracts, tolerances, assumptions;
//! - `check`: file-level diagnostics in file positions.

pub mod catalog;
pub mod check;
pub mod contracts;
pub mod db;
pub mod diagnostics;
pub mod graphs;
pub mod items;
pub mod ledger;
pub mod lower;
pub mod onnx_model;
pub mod outcome;
pub mod payload;
pub mod scope;
pub mod spec_writer;
#[doc(hidden)]
pub mod testing;
pub mod verify;
pub mod vfs;

pub use db::{Db, RootDatabase, SourceFile};
pub use diagnostics::{ResolvedDiagnostic, Severity};
