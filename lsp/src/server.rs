//! The language server: LSP requests mapped onto `tl_ide::Analysis`.
//!
//! Requests run on an analysis snapshot on a blocking thread, inside `catch_unwind`: a bug becomes
//! an error response, an edit that lands mid-query (`tl_ide::Cancelled`) becomes
//! `ContentModified`, and the server keeps running either way.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};
use tl_ide as ide;
use tl_ide::Cancellable;
use tl_syntax::TextRange;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use crate::convert::{self, Cx};
use crate::position::{Encoding, LineIndex};
use crate::state::{path_of, Edit, State};
use crate::verifier;
use crate::writer;

pub const COMMANDS: [&str; 4] = [
    "tl.verifyFile",
    "tl.verifyContract",
    "tl.showTrust",
    "tl.showGraph",
];

/// The verify results shown for `path`: those of the open document's current version (or of the
/// file on disk when it is not open).
fn shown_runs(state: &State, path: &Path) -> Vec<ide::verify::ContractRun> {
    let version = state.lock_docs().get(path).map(|d| d.version);
    state.verify.current(path, version).0
}

pub struct Server {
    client: Client,
    state: Arc<State>,
}

impl Server {
    pub fn new(client: Client) -> Server {
        let (state, rx) = State::new();
        let state = Arc::new(state);
        tokio::spawn(writer::run(state.clone(), client.clone(), rx));
        Server { client, state }
    }

    /// Runs `f` on a snapshot once earlier edits are applied; panics and cancellations become
    /// error responses.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Cx<'_>) -> Cancellable<T> + Send + 'static,
    {
        self.state.caught_up().await;
        let state = self.state.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let snapshot = state.analysis();
            let uris = state.uris();
            catch_unwind(AssertUnwindSafe(|| {
                f(&Cx::new(
                    &snapshot,
                    state.encoding(),
                    &uris,
                    state.docs_link(),
                ))
            }))
        })
        .await;
        match joined {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(_cancelled))) => Err(Error {
                code: ErrorCode::ContentModified,
                message: "the document changed during the request; ask again".into(),
                data: None,
            }),
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Err(Error {
                    code: ErrorCode::InternalError,
                    message: format!("tl-lsp bug (the server keeps running): {what}").into(),
                    data: None,
                })
            }
            Err(e) => Err(Error {
                code: ErrorCode::InternalError,
                message: format!("tl-lsp: request task failed: {e}").into(),
                data: None,
            }),
        }
    }

    /// Like [`Server::read`], for a request about one document position.
    async fn at<T, F>(&self, pos: &TextDocumentPositionParams, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Cx<'_>, &Path, u32, &LineIndex<'_>) -> Cancellable<T> + Send + 'static,
    {
        let path = path_of(&pos.text_document.uri);
        let position = pos.position;
        self.read(move |cx| {
            let text = cx.text(&path)?;
            let index = cx.index(&text);
            let offset = index.offset(position);
            f(cx, &path, offset, &index)
        })
        .await
    }
}

/// Asks the client for the `tl` settings section and applies it.
async fn load_configuration(client: Client, state: Arc<State>) {
    let items = vec![ConfigurationItem {
        scope_uri: None,
        section: Some("tl".into()),
    }];
    if let Ok(values) = client.configuration(items).await {
        if let Some(v) = values.first() {
            apply_settings(&state, v);
        }
    }
}

/// Reads `{"inlayHints": {"enabled": bool}}` (or `"inlayHints": bool`) and `"verifyOnSave": bool`.
fn apply_settings(state: &State, settings: &Value) {
    let hints = settings.get("inlayHints");
    let enabled = hints.and_then(|h| h.get("enabled").and_then(Value::as_bool).or(h.as_bool()));
    if let Some(on) = enabled {
        state.inlay_hints.store(on, Ordering::SeqCst);
    }
    if let Some(on) = settings.get("verifyOnSave").and_then(Value::as_bool) {
        state.verify_on_save.store(on, Ordering::SeqCst);
    }
}

fn invalid_params(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::InvalidParams,
        message: message.into().into(),
        data: None,
    }
}

/// The docs page for diagnostic codes, as a file URI: the workspace's copy, else the one this
/// binary was built from.
fn find_docs(root: Option<&std::path::Path>) -> Option<String> {
    let built = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/diagnostics.md"
    ));
    let candidates = root
        .map(|r| r.join("docs/diagnostics.md"))
        .into_iter()
        .chain([ide::normalize_path(&built)]);
    for c in candidates {
        if c.is_file() {
            return Uri::from_file_path(&c).map(|u| u.as_str().to_string());
        }
    }
    None
}

fn root_of(params: &InitializeParams) -> Option<PathBuf> {
    params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .and_then(|f| f.uri.to_file_path().map(|p| p.into_owned()))
        .or_else(|| {
            #[allow(deprecated)]
            params
                .root_uri
                .as_ref()
                .and_then(|u| u.to_file_path().map(|p| p.into_owned()))
        })
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let offers_utf8 = params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|encs| encs.contains(&PositionEncodingKind::UTF8));
        let encoding = if offers_utf8 {
            Encoding::Utf8
        } else {
            Encoding::Utf16
        };
        let _ = self.state.encoding.set(encoding);
        let snippets = params
            .capabilities
            .text_document
            .as_ref()
            .and_then(|t| t.completion.as_ref())
            .and_then(|c| c.completion_item.as_ref())
            .and_then(|i| i.snippet_support)
            .unwrap_or(false);
        self.state.snippets.store(snippets, Ordering::SeqCst);
        let progress = params
            .capabilities
            .window
            .as_ref()
            .and_then(|w| w.work_done_progress)
            .unwrap_or(false);
        self.state
            .progress_support
            .store(progress, Ordering::SeqCst);
        let lens_refresh = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false);
        self.state
            .lens_refresh
            .store(lens_refresh, Ordering::SeqCst);
        if let Some(opts) = &params.initialization_options {
            apply_settings(&self.state, opts);
        }
        let root = root_of(&params);
        let _ = self.state.docs_link.set(find_docs(root.as_deref()));
        if let Some(root) = root {
            self.state.submit(Edit::Scan { root });
        }
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "tlc lsp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            capabilities: ServerCapabilities {
                position_encoding: Some(match encoding {
                    Encoding::Utf8 => PositionEncodingKind::UTF8,
                    Encoding::Utf16 => PositionEncodingKind::UTF16,
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..Default::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some([".", "\"", "/", "(", ","].map(String::from).to_vec()),
                    ..Default::default()
                }),
                signature_help_provider: Some(SignatureHelpOptions {
                    trigger_characters: Some(vec!["(".into(), ",".into()]),
                    retrigger_characters: None,
                    work_done_progress_options: Default::default(),
                }),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: Default::default(),
                })),
                document_symbol_provider: Some(OneOf::Left(true)),
                workspace_symbol_provider: Some(OneOf::Left(true)),
                semantic_tokens_provider: Some(
                    SemanticTokensServerCapabilities::SemanticTokensOptions(
                        SemanticTokensOptions {
                            legend: convert::legend(),
                            full: Some(SemanticTokensFullOptions::Bool(true)),
                            range: Some(false),
                            work_done_progress_options: Default::default(),
                        },
                    ),
                ),
                folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
                inlay_hint_provider: Some(OneOf::Left(true)),
                document_formatting_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..Default::default()
                    },
                )),
                code_lens_provider: Some(CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: COMMANDS.map(String::from).to_vec(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        // Capabilities were read in `initialize`; ask for settings and file events here.
        let client = self.client.clone();
        let registration = Registration {
            id: "tl-watched-files".into(),
            method: "workspace/didChangeWatchedFiles".into(),
            register_options: Some(json!({
                "watchers": [
                    { "globPattern": "**/*.tl" },
                    { "globPattern": "**/*.{npy,safetensors,onnx,vnnlib}" }
                ]
            })),
        };
        let state = self.state.clone();
        // Never wait on the client inside a notification handler: answers come on the same stream.
        tokio::spawn(async move {
            let _ = client.register_capability(vec![registration]).await;
            load_configuration(client, state).await;
        });
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.state.submit(Edit::Open {
            path: path_of(&doc.uri),
            uri: doc.uri,
            version: doc.version,
            text: doc.text,
        });
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        self.state.submit(Edit::Change {
            path: path_of(&params.text_document.uri),
            version: params.text_document.version,
            changes: params.content_changes,
        });
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        if !self.state.verify_on_save.load(Ordering::SeqCst) {
            return;
        }
        let (state, client) = (self.state.clone(), self.client.clone());
        let uri = params.text_document.uri;
        // Never wait on the client inside a notification handler: run in the background.
        tokio::spawn(async move {
            let token = verifier::progress_token(&state, &client, None).await;
            let _ = verifier::verify(state, client, uri, None, token).await;
        });
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.state.submit(Edit::Close {
            path: path_of(&params.text_document.uri),
        });
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let paths = params.changes.iter().map(|c| path_of(&c.uri)).collect();
        self.state.submit(Edit::Reload { paths });
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let client = self.client.clone();
        let state = self.state.clone();
        let settings = params.settings.get("tl").cloned();
        tokio::spawn(async move {
            match settings {
                Some(tl) => apply_settings(&state, &tl),
                None => load_configuration(client.clone(), state).await,
            }
            let _ = client.inlay_hint_refresh().await;
        });
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let state = self.state.clone();
        self.at(
            &params.text_document_position_params,
            move |cx, path, offset, index| {
                let runs = shown_runs(&state, path);
                Ok(cx.analysis.hover(path, offset, &runs)?.map(|h| Hover {
                    contents: HoverContents::Markup(convert::markdown(h.markdown)),
                    range: Some(index.range(h.range)),
                }))
            },
        )
        .await
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let snippets = self.state.snippets.load(Ordering::SeqCst);
        self.at(
            &params.text_document_position,
            move |cx, path, offset, index| {
                let items: Vec<CompletionItem> = cx
                    .analysis
                    .completions(path, offset)?
                    .into_iter()
                    .map(|c| {
                        let text = c.insert_text.clone().map(|t| {
                            if c.is_snippet && !snippets {
                                convert::strip_snippet(&t)
                            } else {
                                t
                            }
                        });
                        let format =
                            (c.is_snippet && snippets).then_some(InsertTextFormat::SNIPPET);
                        let text_edit = c.edit_range.map(|r| {
                            CompletionTextEdit::Edit(TextEdit {
                                range: index.range(r),
                                new_text: text.clone().unwrap_or_else(|| c.label.clone()),
                            })
                        });
                        CompletionItem {
                            label: c.label.clone(),
                            kind: Some(convert::completion_kind(c.kind)),
                            detail: c.detail,
                            documentation: c
                                .documentation
                                .map(|d| Documentation::MarkupContent(convert::markdown(d))),
                            insert_text: if text_edit.is_some() { None } else { text },
                            insert_text_format: format,
                            text_edit,
                            ..Default::default()
                        }
                    })
                    .collect();
                Ok(Some(CompletionResponse::Array(items)))
            },
        )
        .await
    }

    async fn signature_help(&self, params: SignatureHelpParams) -> Result<Option<SignatureHelp>> {
        self.at(
            &params.text_document_position_params,
            |cx, path, offset, _| {
                let Some(h) = cx.analysis.signature_help(path, offset)? else {
                    return Ok(None);
                };
                Ok(Some(SignatureHelp {
                    signatures: vec![SignatureInformation {
                        label: h.label,
                        documentation: Some(Documentation::MarkupContent(convert::markdown(
                            h.documentation,
                        ))),
                        parameters: Some(
                            h.parameters
                                .into_iter()
                                .map(|p| ParameterInformation {
                                    label: ParameterLabel::Simple(p.label),
                                    documentation: p.documentation.map(Documentation::String),
                                })
                                .collect(),
                        ),
                        active_parameter: h.active_parameter,
                    }],
                    active_signature: Some(0),
                    active_parameter: h.active_parameter,
                }))
            },
        )
        .await
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        self.at(
            &params.text_document_position_params,
            |cx, path, offset, _| {
                let Some(d) = cx.analysis.definition(path, offset)? else {
                    return Ok(None);
                };
                Ok(cx.location(&d)?.map(GotoDefinitionResponse::Scalar))
            },
        )
        .await
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let include = params.context.include_declaration;
        self.at(
            &params.text_document_position,
            move |cx, path, offset, _| {
                let refs = cx.analysis.references(path, offset, include)?;
                Ok(Some(cx.locations(&refs)?))
            },
        )
        .await
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        self.at(&params, |cx, path, offset, index| {
            Ok(cx
                .analysis
                .prepare_rename(path, offset)?
                .map(|r| PrepareRenameResponse::Range(index.range(r)))
                .map_err(|e| invalid_params(e.0)))
        })
        .await?
        .map(Some)
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let new_name = params.new_name.clone();
        self.at(
            &params.text_document_position,
            move |cx, path, offset, _| {
                Ok(match cx.analysis.rename(path, offset, &new_name)? {
                    Ok(edits) => Ok(Some(WorkspaceEdit {
                        changes: Some(cx.edits(&edits)?),
                        ..Default::default()
                    })),
                    Err(e) => Err(invalid_params(e.0)),
                })
            },
        )
        .await?
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let path = path_of(&params.text_document.uri);
        self.read(move |cx| {
            let text = cx.text(&path)?;
            let index = cx.index(&text);
            let symbols = cx
                .analysis
                .document_symbols(&path)?
                .iter()
                .map(|s| convert::document_symbol(s, &index))
                .collect();
            Ok(Some(DocumentSymbolResponse::Nested(symbols)))
        })
        .await
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> Result<Option<WorkspaceSymbolResponse>> {
        let query = params.query;
        self.read(move |cx| {
            let found = cx.analysis.workspace_symbols(&query, 500)?;
            let mut symbols = Vec::with_capacity(found.len());
            for s in found {
                let at = ide::FileRange {
                    path: s.path,
                    range: s.range,
                };
                if let Some(location) = cx.location(&at)? {
                    symbols.push(WorkspaceSymbol {
                        name: s.name,
                        kind: convert::symbol_kind(s.kind),
                        tags: None,
                        container_name: s.container,
                        location: OneOf::Left(location),
                        data: None,
                    });
                }
            }
            Ok(Some(WorkspaceSymbolResponse::Nested(symbols)))
        })
        .await
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let path = path_of(&params.text_document.uri);
        self.read(move |cx| {
            let text = cx.text(&path)?;
            let index = cx.index(&text);
            let tokens = cx.analysis.semantic_tokens(&path)?;
            Ok(Some(SemanticTokensResult::Tokens(SemanticTokens {
                result_id: None,
                data: convert::semantic_tokens(&tokens, &index),
            })))
        })
        .await
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        let path = path_of(&params.text_document.uri);
        self.read(move |cx| {
            let text = cx.text(&path)?;
            let index = cx.index(&text);
            let folds = cx
                .analysis
                .folding_ranges(&path)?
                .into_iter()
                .filter_map(|f| {
                    let start = index.position(f.range.start);
                    let mut end = index.position(f.range.end);
                    // A range ending right after a newline folds up to the line before.
                    if end.character == 0 && text[..f.range.end as usize].ends_with('\n') {
                        end.line = end.line.saturating_sub(1);
                    }
                    (end.line > start.line).then_some(FoldingRange {
                        start_line: start.line,
                        start_character: None,
                        end_line: end.line,
                        end_character: None,
                        kind: Some(match f.kind {
                            ide::FoldKind::Item => FoldingRangeKind::Region,
                            ide::FoldKind::Comment => FoldingRangeKind::Comment,
                        }),
                        collapsed_text: None,
                    })
                })
                .collect();
            Ok(Some(folds))
        })
        .await
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> Result<Option<Vec<InlayHint>>> {
        if !self.state.inlay_hints.load(Ordering::SeqCst) {
            return Ok(Some(Vec::new()));
        }
        let path = path_of(&params.text_document.uri);
        let range = params.range;
        self.read(move |cx| {
            let text = cx.text(&path)?;
            let index = cx.index(&text);
            let hints = cx
                .analysis
                .inlay_hints(&path, index.text_range(range))?
                .into_iter()
                .map(|h| InlayHint {
                    position: index.position(h.offset),
                    label: InlayHintLabel::String(h.label),
                    kind: Some(InlayHintKind::TYPE),
                    text_edits: None,
                    tooltip: Some(InlayHintTooltip::String(h.tooltip)),
                    padding_left: Some(false),
                    padding_right: Some(false),
                    data: None,
                })
                .collect();
            Ok(Some(hints))
        })
        .await
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let path = path_of(&params.text_document.uri);
        self.read(move |cx| {
            let text = cx.text(&path)?;
            let index = cx.index(&text);
            let len = text.len() as u32;
            Ok(match cx.analysis.format_file(&path)? {
                Ok(None) => Ok(Some(Vec::new())),
                Ok(Some(text)) => Ok(Some(vec![TextEdit {
                    range: index.range(TextRange::new(0, len)),
                    new_text: text,
                }])),
                Err(reason) => Err(invalid_params(reason)),
            })
        })
        .await?
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let path = path_of(&params.text_document.uri);
        let range = params.range;
        self.read(move |cx| {
            let text = cx.text(&path)?;
            let index = cx.index(&text);
            let mut actions = Vec::new();
            for a in cx.analysis.code_actions(&path, index.text_range(range))? {
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: a.title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: None,
                    edit: Some(WorkspaceEdit {
                        changes: Some(cx.edits(&a.edits)?),
                        ..Default::default()
                    }),
                    command: None,
                    is_preferred: a.preferred.then_some(true),
                    disabled: None,
                    data: Some(json!({ "code": format!("TL{:04}", a.code) })),
                }));
            }
            Ok(Some(actions))
        })
        .await
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        let uri = params.text_document.uri;
        let path = path_of(&uri);
        let state = self.state.clone();
        self.read(move |cx| {
            let text = cx.text(&path)?;
            let index = cx.index(&text);
            let version = state.lock_docs().get(&path).map(|d| d.version);
            let (runs, running) = state.verify.current(&path, version);
            let statuses = cx.analysis.statuses_with_runs(&path, &runs, &running)?;
            let mut lenses = Vec::new();
            for t in cx.analysis.lens_targets(&path)? {
                let range = index.range(t.range);
                let lens = |title: &str, command: &str, args: Vec<Value>| CodeLens {
                    range,
                    command: Some(Command {
                        title: title.into(),
                        command: command.into(),
                        arguments: Some(args),
                    }),
                    data: None,
                };
                let u = json!(uri.as_str());
                match t.kind {
                    ide::LensKind::Contract => {
                        let status = statuses.iter().find(|s| s.name == t.name);
                        let verify = lens(
                            "Verify",
                            "tl.verifyContract",
                            vec![u.clone(), json!(t.name)],
                        );
                        match status.and_then(|s| {
                            s.headline.clone().or_else(|| {
                                (s.status == "running").then(|| "verifying…".to_string())
                            })
                        }) {
                            // The result first; clicking it shows the trust report.
                            Some(headline) => {
                                lenses.push(lens(&headline, "tl.showTrust", vec![u]));
                                lenses.push(verify);
                            }
                            None => {
                                lenses.push(verify);
                                lenses.push(lens("Show trust", "tl.showTrust", vec![u]));
                            }
                        }
                    }
                    ide::LensKind::Graph => {
                        lenses.push(lens("Show graph", "tl.showGraph", vec![u, json!(t.name)]));
                    }
                }
            }
            Ok(Some(lenses))
        })
        .await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let arg = |i: usize| {
            params
                .arguments
                .get(i)
                .and_then(Value::as_str)
                .map(String::from)
        };
        let uri: Uri = arg(0).and_then(|u| u.parse().ok()).ok_or_else(|| {
            invalid_params(format!("{} takes a document URI first", params.command))
        })?;
        let path = path_of(&uri);
        match params.command.as_str() {
            "tl.showGraph" => {
                let name =
                    arg(1).ok_or_else(|| invalid_params("tl.showGraph takes [uri, graph name]"))?;
                self.read(move |cx| {
                    Ok(cx
                        .analysis
                        .graph_mermaid(&path, &name)?
                        .map(|text| Some(json!({ "format": "mermaid", "text": text })))
                        .ok_or_else(|| {
                            invalid_params(format!("no graph or block `{name}` in scope"))
                        }))
                })
                .await?
            }
            "tl.showTrust" => {
                let state = self.state.clone();
                self.read(move |cx| {
                    let runs = shown_runs(&state, &path);
                    Ok(Some(Value::String(
                        cx.analysis.trust_markdown(&path, &runs)?,
                    )))
                })
                .await
            }
            "tl.verifyFile" | "tl.verifyContract" => {
                let only = match params.command.as_str() {
                    "tl.verifyContract" => Some(arg(1).ok_or_else(|| {
                        invalid_params("tl.verifyContract takes [uri, contract name]")
                    })?),
                    _ => None,
                };
                let given = params.work_done_progress_params.work_done_token.clone();
                let token = verifier::progress_token(&self.state, &self.client, given).await;
                let summary =
                    verifier::verify(self.state.clone(), self.client.clone(), uri, only, token)
                        .await?;
                Ok(Some(serde_json::to_value(summary).map_err(|e| Error {
                    code: ErrorCode::InternalError,
                    message: format!("tl-lsp: {e}").into(),
                    data: None,
                })?))
            }
            other => Err(invalid_params(format!(
                "unknown command `{other}`; commands: {}",
                COMMANDS.join(", ")
            ))),
        }
    }
}
