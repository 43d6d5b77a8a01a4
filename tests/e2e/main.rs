//! End-to-end tests: they drive the real `tlc` binary (and, in `lsp`, the real server over stdio).

mod bounds;
mod check;
mod engine;
mod graph;
mod lsp;
mod support;
mod trust;
mod verify;
mod views;
