// The VS Code side: starts `tlc lsp`, shows `tl/status` in the status bar and the gutter, and wires
// the palette commands. The logic lives in the pure modules next to this file (tested under node);
// this file is the thin seam to the `vscode` API.

import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { ExecuteCommandRequest, LanguageClient, LanguageClientOptions, ServerOptions } from 'vscode-languageclient/node';
import { CommandOutcome, graphHtml, interpretResult } from './commandResults';
import { DECORATION_STYLE, planGutter } from './decorationMapping';
import { contractAt, graphAt, graphNames } from './locate';
import { CONTRACT_STATUSES, ContractReport, ContractStatus, SERVER_COMMANDS, STATUS_NOTIFICATION, parseStatusParams } from './protocol';
import { checkReportPage, graphForCursor, interpretReportRun, reportArgs, ReportRun, revealGraphMessage } from './reportPage';
import { resolveServerPath } from './serverPath';
import { summarize } from './statusSummary';
import { TRUST_SCHEME, UNFILLED_TRUST_REPORT, trustDocumentAddress } from './trustDocument';

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
const statusByUri = new Map<string, ContractReport[]>();
let statusBar: vscode.StatusBarItem;
let gutterTypes: Record<ContractStatus, vscode.TextEditorDecorationType> | undefined;
/** Made once: a restart hands the same watcher to the new client instead of leaking one. */
let specWatcher: vscode.FileSystemWatcher;
/** Trust reports' markdown by their `tl-trust:` document URI (see trustDocument.ts). */
const trustTexts = new Map<string, string>();
const trustChanged = new vscode.EventEmitter<vscode.Uri>();
/** One report panel per spec: showing the report again refreshes it in place. */
const reportPanels = new Map<string, vscode.WebviewPanel>();

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('tl');
  statusBar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  statusBar.command = 'tl.editor.showTrust';
  gutterTypes = createGutterTypes(context);
  specWatcher = vscode.workspace.createFileSystemWatcher('**/{tl.toml,*.tl}');
  context.subscriptions.push(output, statusBar, specWatcher, trustChanged, ...Object.values(gutterTypes));
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(TRUST_SCHEME, {
      onDidChange: trustChanged.event,
      provideTextDocumentContent: (uri) => trustTexts.get(uri.toString()) ?? UNFILLED_TRUST_REPORT,
    }),
    { dispose: () => void stopClient() },
  );

  const register = (id: string, run: () => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, run));
  register('tl.editor.verifyFile', () => runOnActiveFile(SERVER_COMMANDS.verifyFile, (doc) => [doc.uri.toString()]));
  register('tl.editor.verifyContract', () =>
    runOnActiveFile(SERVER_COMMANDS.verifyContract, (doc, editor) => {
      const name = contractAt(doc.getText(), editor.selection.active.line, statusByUri.get(doc.uri.toString()));
      if (!name) {
        void vscode.window.showWarningMessage('tl: the cursor is not inside a contract.');
        return undefined;
      }
      return [doc.uri.toString(), name];
    }),
  );
  register('tl.editor.showTrust', () => runOnActiveFile(SERVER_COMMANDS.showTrust, (doc) => [doc.uri.toString()]));
  register('tl.editor.showGraph', async () => {
    const editor = activeTlEditor();
    if (!editor) return;
    const text = editor.document.getText();
    const name = graphAt(text, editor.selection.active.line) ?? (await pickGraph(text));
    if (name) await runOnActiveFile(SERVER_COMMANDS.showGraph, (doc) => [doc.uri.toString(), name]);
  });
  register('tl.editor.showReport', showReport);
  register('tl.editor.restartServer', async () => {
    await stopClient();
    await startClient();
  });

  context.subscriptions.push(
    vscode.window.onDidChangeActiveTextEditor(refreshStatusBar),
    vscode.window.onDidChangeTextEditorSelection((e) => followCursorInReport(e.textEditor)),
    vscode.window.onDidChangeVisibleTextEditors(refreshGutters),
    vscode.workspace.onDidCloseTextDocument((doc) => statusByUri.delete(doc.uri.toString())),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('tl.server')) {
        const choice = await vscode.window.showInformationMessage('tl: server settings changed.', 'Restart Server');
        if (choice) await vscode.commands.executeCommand('tl.editor.restartServer');
      }
      if (e.affectsConfiguration('tl.gutterIcons')) refreshGutters();
    }),
  );
  refreshStatusBar();
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}

/** The `tlc` binary (`tl.server.path`, else PATH), or undefined after telling the user why not. */
async function resolveTlc(): Promise<string | undefined> {
  const resolved = resolveServerPath({
    configured: vscode.workspace.getConfiguration('tl').get<string>('server.path'),
    workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    env: process.env,
    platform: process.platform,
    isExecutable,
  });
  if (resolved.ok) return resolved.path;
  output.appendLine(resolved.message);
  const choice = await vscode.window.showErrorMessage(resolved.message, 'Open Settings');
  if (choice) await vscode.commands.executeCommand('workbench.action.openSettings', 'tl.server.path');
  return undefined;
}

async function startClient(): Promise<void> {
  const config = vscode.workspace.getConfiguration('tl');
  const tlc = await resolveTlc();
  if (!tlc) return;
  const resolved = { path: tlc };
  const args = config.get<string[]>('server.args') ?? ['lsp'];
  const serverOptions: ServerOptions = { command: resolved.path, args };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: 'tl' }],
    synchronize: { fileEvents: specWatcher },
    outputChannel: output,
    middleware: {
      // Code lenses run server commands directly; show what trust/graph commands return.
      executeCommand: async (command, commandArgs, next) => {
        const result = await next(command, commandArgs);
        await present(command, commandArgs, result);
        return result;
      },
    },
  };
  client = new LanguageClient('tl', 'tl language server', serverOptions, clientOptions);
  client.onNotification(STATUS_NOTIFICATION, onStatus);
  output.appendLine(`starting ${resolved.path} ${args.join(' ')}`);
  try {
    await client.start();
  } catch (err) {
    void vscode.window.showErrorMessage(`tl: could not start ${resolved.path}: ${String(err)}`);
  }
}

async function stopClient(): Promise<void> {
  const running = client;
  client = undefined;
  statusByUri.clear();
  refreshStatusBar();
  refreshGutters();
  if (running) await running.stop();
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onStatus(raw: unknown): void {
  const { params, problems } = parseStatusParams(raw);
  for (const p of problems) output.appendLine(`tl/status: ${p}`);
  if (!params) return;
  statusByUri.set(params.uri, params.contracts);
  refreshStatusBar();
  refreshGutters();
}

function activeTlEditor(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== 'tl') {
    void vscode.window.showWarningMessage('tl: open a .tl file first.');
    return undefined;
  }
  return editor;
}

async function runOnActiveFile(
  command: string,
  argsFor: (doc: vscode.TextDocument, editor: vscode.TextEditor) => unknown[] | undefined,
): Promise<void> {
  const editor = activeTlEditor();
  if (!editor) return;
  if (!client) {
    void vscode.window.showErrorMessage('tl: the language server is not running (see the "tl" output).');
    return;
  }
  const args = argsFor(editor.document, editor);
  if (!args) return;
  try {
    const result = await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
    await present(command, args, result);
  } catch (err) {
    void vscode.window.showErrorMessage(`tl: ${command} failed: ${String(err)}`);
  }
}

async function present(command: string, args: unknown[], result: unknown): Promise<void> {
  const outcome: CommandOutcome = interpretResult(command, result);
  switch (outcome.kind) {
    case 'markdown': {
      const spec = typeof args[0] === 'string' ? args[0] : 'spec';
      const uri = vscode.Uri.from({ scheme: TRUST_SCHEME, ...trustDocumentAddress(spec) });
      trustTexts.set(uri.toString(), outcome.markdown);
      trustChanged.fire(uri); // an open preview of this report refreshes
      await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
      break;
    }
    case 'graph': {
      const name = typeof args[1] === 'string' ? args[1] : 'graph';
      const panel = vscode.window.createWebviewPanel('tl.graph', `tl graph: ${name}`, vscode.ViewColumn.Beside, {});
      panel.webview.html = graphHtml(name, outcome.format, outcome.text);
      break;
    }
    case 'verified':
      output.appendLine(`tl: ${outcome.message}`);
      void (outcome.cancelled
        ? vscode.window.showWarningMessage(`tl: ${outcome.message}`)
        : vscode.window.setStatusBarMessage(`tl: ${outcome.message}`, 5000));
      break;
    case 'invalid':
      output.appendLine(outcome.message);
      void vscode.window.showErrorMessage(`tl: ${outcome.message}`);
      break;
    case 'nothing':
      break;
  }
}

/**
 * "tl: Show Report": runs `tlc report` on the saved file (the same binary the server is) and
 * shows the page it writes in a webview. The page is tlc's own; scripts run under its CSP only.
 */
async function showReport(): Promise<void> {
  const editor = activeTlEditor();
  if (!editor) return;
  const doc = editor.document;
  if (doc.uri.scheme !== 'file') {
    void vscode.window.showWarningMessage('tl: the report reads a file on disk; save this document first.');
    return;
  }
  if (doc.isDirty) {
    const choice = await vscode.window.showWarningMessage(
      'tl: the report reads the file on disk, which differs from the editor.',
      'Save and Show Report',
    );
    if (choice !== 'Save and Show Report' || !(await doc.save())) return;
  }
  const tlc = await resolveTlc();
  if (!tlc) return;
  const spec = doc.uri.fsPath;
  const verify = vscode.workspace.getConfiguration('tl').get<boolean>('report.verify', true);
  const digest = crypto.createHash('sha256').update(spec).digest('hex').slice(0, 12);
  const page = path.join(os.tmpdir(), `tl-report-${process.pid}-${digest}.html`);
  const args = reportArgs(spec, page, verify);
  output.appendLine(`running ${tlc} ${args.join(' ')}`);
  const run = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `tl: report of ${path.basename(spec)}`, cancellable: true },
    (_progress, token) =>
      new Promise<ReportRun>((resolve) => {
        const child = execFile(tlc, args, { cwd: path.dirname(spec), maxBuffer: 16 << 20 }, (_err, _stdout, stderr) =>
          resolve(interpretReportRun(child.exitCode, child.signalCode, stderr, token.isCancellationRequested)),
        );
        token.onCancellationRequested(() => child.kill());
      }),
  );
  switch (run.kind) {
    case 'cancelled':
      return;
    case 'failed':
      output.appendLine(`tl: ${run.message}`);
      void vscode.window.showErrorMessage(`tl: ${run.message}`);
      return;
    case 'page':
      if (run.warning) void vscode.window.showWarningMessage(`tl: ${run.warning}`);
  }
  let html: string;
  try {
    html = fs.readFileSync(page, 'utf8');
    fs.rmSync(page, { force: true });
  } catch (err) {
    void vscode.window.showErrorMessage(`tl: cannot read the page tlc report wrote: ${String(err)}`);
    return;
  }
  const refused = checkReportPage(html);
  if (refused) {
    void vscode.window.showErrorMessage(`tl: ${refused}`);
    return;
  }
  const key = doc.uri.toString();
  let panel = reportPanels.get(key);
  if (!panel) {
    panel = vscode.window.createWebviewPanel('tl.report', `tl report: ${path.basename(spec)}`, vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [],
    });
    panel.onDidDispose(() => {
      reportPanels.delete(key);
      revealedGraph.delete(key);
    });
    reportPanels.set(key, panel);
  } else {
    panel.reveal(vscode.ViewColumn.Beside);
  }
  panel.webview.html = html;
  followCursorInReport(editor, true);
}

/** The graph last revealed in each spec's report panel, so a cursor move inside it posts nothing. */
const revealedGraph = new Map<string, string>();

/** The report panel of the editor's spec scrolls to the graph the cursor is in. */
function followCursorInReport(editor: vscode.TextEditor, always = false): void {
  const key = editor.document.uri.toString();
  const panel = reportPanels.get(key);
  if (!panel) return;
  const graph = graphForCursor(editor.document.getText(), editor.selection.active.line);
  if (!graph || (!always && revealedGraph.get(key) === graph)) return;
  revealedGraph.set(key, graph);
  void panel.webview.postMessage(revealGraphMessage(graph));
}

async function pickGraph(text: string): Promise<string | undefined> {
  const names = graphNames(text);
  if (names.length === 0) {
    void vscode.window.showWarningMessage('tl: this file declares no graph.');
    return undefined;
  }
  return names.length === 1 ? names[0] : vscode.window.showQuickPick(names, { placeHolder: 'Graph to show' });
}

function refreshStatusBar(): void {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== 'tl') {
    statusBar.hide();
    return;
  }
  const contracts = statusByUri.get(editor.document.uri.toString());
  if (!contracts) {
    statusBar.text = client ? 'tl $(circle-outline) no status yet' : 'tl $(debug-disconnect) server stopped';
    statusBar.tooltip = client ? 'Waiting for tlc lsp to report contract status.' : 'Run "tl: Restart Language Server".';
    statusBar.backgroundColor = undefined;
    statusBar.show();
    return;
  }
  const summary = summarize(contracts);
  statusBar.text = summary.text;
  statusBar.tooltip = new vscode.MarkdownString(summary.tooltip, true);
  statusBar.backgroundColor =
    summary.severity === 'error'
      ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : summary.severity === 'warning'
        ? new vscode.ThemeColor('statusBarItem.warningBackground')
        : undefined;
  statusBar.show();
}

function createGutterTypes(context: vscode.ExtensionContext): Record<ContractStatus, vscode.TextEditorDecorationType> {
  const entries = CONTRACT_STATUSES.map((status) => {
    const style = DECORATION_STYLE[status];
    const type = vscode.window.createTextEditorDecorationType({
      gutterIconPath: vscode.Uri.joinPath(context.extensionUri, 'media', style.icon),
      gutterIconSize: 'contain',
      overviewRulerColor: new vscode.ThemeColor(style.rulerColor),
      overviewRulerLane: vscode.OverviewRulerLane.Left,
    });
    return [status, type] as const;
  });
  return Object.fromEntries(entries) as Record<ContractStatus, vscode.TextEditorDecorationType>;
}

function refreshGutters(): void {
  if (!gutterTypes) return;
  const enabled = vscode.workspace.getConfiguration('tl').get<boolean>('gutterIcons', true);
  for (const editor of vscode.window.visibleTextEditors) {
    if (editor.document.languageId !== 'tl') continue;
    const contracts = enabled ? statusByUri.get(editor.document.uri.toString()) ?? [] : [];
    const plan = planGutter(contracts);
    const lines = editor.document.lineCount;
    for (const status of CONTRACT_STATUSES) {
      // The decoration spans the contract's first line: VS Code shows a decoration's hover only
      // over its text range (extensions cannot hover the gutter, microsoft/vscode#28080), and an
      // empty range at column 0 can hardly be hovered at all.
      const options = plan[status]
        .filter((mark) => mark.line < lines)
        .map((mark) => ({
          range: editor.document.lineAt(mark.line).range,
          hoverMessage: new vscode.MarkdownString(mark.hover),
        }));
      editor.setDecorations(gutterTypes[status], options);
    }
  }
}
