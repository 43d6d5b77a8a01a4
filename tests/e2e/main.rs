//! End-to-end tests: they drive the real `tlc` binary (and, in `lsp`, the real server over stdio).

mod bounds;
mod bugzoo;
mod cache_timeouts;
mod check;
mod engine;
mod export_interop;
mod fuzz_smoke;
mod graph;
mod lsp;
mod lsp_stress;
mod support;
mod tolerance;
mod transformer_bounds;
mod trust;
mod verify;
mod views;
