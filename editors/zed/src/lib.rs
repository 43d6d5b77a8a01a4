//! Zed extension for tl: starts `tlc lsp` from the worktree's PATH.

use zed_extension_api::{self as zed, LanguageServerId, Result};

struct TlExtension;

impl zed::Extension for TlExtension {
    fn new() -> Self {
        TlExtension
    }

    fn language_server_command(
        &mut self,
        _language_server_id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<zed::Command> {
        let path = worktree.which("tlc").ok_or_else(|| {
            "tl: `tlc` is not on PATH; build it with `cargo install --path cli` in the tl repository"
                .to_string()
        })?;
        Ok(zed::Command {
            command: path,
            args: vec!["lsp".to_string()],
            env: worktree.shell_env(),
        })
    }
}

zed::register_extension!(TlExtension);
