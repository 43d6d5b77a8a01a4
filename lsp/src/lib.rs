//! The tl language server: a protocol adapter over `tl-ide`, on tower-lsp-server.
//!
//! `tlc lsp` calls [`run_stdio`]. Everything the server answers comes from `tl_ide::Analysis`
//! snapshots of one `tl_ide::AnalysisHost`, so the editor and `tlc check` cannot disagree; this
//! crate only handles the protocol: positions in the negotiated encoding, incremental text sync,
//! the single-writer edit queue, the `tl/status` notification and `tl.*` commands, and verify runs
//! (`verifier`) over `tl_ide::verify`. It does not depend on the analysis crate or on salsa.

pub mod client;
mod convert;
mod document;
pub mod framing;
mod position;
mod runs;
mod server;
mod state;
mod verifier;
mod writer;

use tower_lsp_server::{LspService, Server};

pub use position::{Encoding, LineIndex};
pub use verifier::VerifySummary;
pub use writer::{ContractReport, StatusParams};

/// Serves the protocol over any byte streams until the client sends `exit` or closes the input.
pub async fn serve<I, O>(input: I, output: O)
where
    I: tokio::io::AsyncRead + Unpin + Send + 'static,
    O: tokio::io::AsyncWrite,
{
    let (service, socket) = LspService::new(server::Server::new);
    Server::new(framing::guard(input), output, socket)
        .serve(service)
        .await;
}

/// Runs the server on standard input and output (blocking): the entry point of `tlc lsp`.
pub fn run_stdio() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(tokio::io::stdin(), tokio::io::stdout()));
    // After `exit` a read of stdin may still be pending on a blocking thread: do not wait for it.
    runtime.shutdown_background();
    Ok(())
}
