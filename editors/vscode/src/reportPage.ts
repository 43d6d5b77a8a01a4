// "tl: Show Report": the page `tlc report SPEC --verify -o PAGE` writes (graph, ledgers, bounds),
// shown in a webview. The page is tlc's, byte for byte: the editor adds no second renderer. Pure:
// no `vscode` import, tested under node.

/** The arguments after the `tlc` binary. */
export function reportArgs(spec: string, page: string, verify: boolean): string[] {
  return ['report', spec, ...(verify ? ['--verify'] : []), '-o', page];
}

export type ReportRun =
  | { kind: 'page'; warning?: string }
  | { kind: 'failed'; message: string }
  | { kind: 'cancelled' };

/**
 * What a finished `tlc report` means (its exit codes: 0 page written, 1 page written but the spec
 * has errors so ledgers are incomplete, 2 usage or I/O). `signal` is set when the run was killed.
 */
export function interpretReportRun(code: number | null, signal: string | null, stderr: string, cancelled: boolean): ReportRun {
  if (cancelled) return { kind: 'cancelled' };
  const said = lastLines(stderr);
  if (signal) return { kind: 'failed', message: `tlc report was stopped by ${signal}${said ? `: ${said}` : ''}` };
  if (code === 0) return { kind: 'page' };
  if (code === 1) return { kind: 'page', warning: said || 'the spec has errors: ledgers are incomplete' };
  return { kind: 'failed', message: said || `tlc report exited with ${code}` };
}

function lastLines(stderr: string): string {
  return stderr.trim().split('\n').slice(-3).join(' ').trim();
}

/**
 * The CSP a report page must carry to be shown: the one `tlc report` writes (nothing fetched,
 * inline style and script). A page without it is refused rather than shown with scripts on.
 */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

export function checkReportPage(html: string): string | undefined {
  if (!html.startsWith('<!DOCTYPE html>')) return 'the file tlc report wrote is not an HTML page';
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html.slice(0, 4096));
  if (!csp) return 'the page carries no Content-Security-Policy (is tlc older than the extension?)';
  if (csp[1] !== REPORT_CSP) return `the page's Content-Security-Policy is not the one tlc report writes: ${csp[1]}`;
  return undefined;
}

/**
 * The graph the report should show for a cursor line (zero-based): the graph or block the cursor
 * is in, or the target of the contract it is in (`contract c on g`).
 */
export function graphForCursor(text: string, line: number): string | undefined {
  const lines = text.split(/\r?\n/);
  for (let i = Math.min(line, lines.length - 1); i >= 0; i--) {
    const m = /^\s*(graph|block|contract|tolerance|assume|import)\b\s*([A-Za-z_][A-Za-z0-9_]*)?(?:\s+on\s+([A-Za-z_][A-Za-z0-9_]*))?/.exec(lines[i]);
    if (!m) continue;
    if (m[1] === 'graph' || m[1] === 'block') return m[2];
    if (m[1] === 'contract') return m[3];
    return undefined;
  }
  return undefined;
}

/** The message the report page's script understands (cli/src/report/report.js). */
export function revealGraphMessage(graph: string): { type: 'tl.revealGraph'; graph: string } {
  return { type: 'tl.revealGraph', graph };
}
