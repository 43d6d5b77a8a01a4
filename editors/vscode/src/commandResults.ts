// Interprets what `tlc lsp` returns for workspace/executeCommand, whether the command came from
// our palette commands or from a code lens. Pure: no `vscode` import.

import { parseVerifySummary, SERVER_COMMANDS, VerifySummary } from './protocol';

export type CommandOutcome =
  | { kind: 'markdown'; markdown: string }
  | { kind: 'verified'; message: string; cancelled: boolean }
  | { kind: 'graph'; format: string; text: string }
  | { kind: 'nothing' }
  | { kind: 'invalid'; message: string };

export function interpretResult(command: string, result: unknown): CommandOutcome {
  switch (command) {
    case SERVER_COMMANDS.showTrust:
      return typeof result === 'string'
        ? { kind: 'markdown', markdown: result }
        : { kind: 'invalid', message: `${command} returned ${describe(result)}, expected a markdown string` };
    case SERVER_COMMANDS.showGraph: {
      const r = result as { format?: unknown; text?: unknown };
      if (typeof r === 'object' && r !== null && typeof r.format === 'string' && typeof r.text === 'string') {
        return { kind: 'graph', format: r.format, text: r.text };
      }
      return { kind: 'invalid', message: `${command} returned ${describe(result)}, expected { format, text }` };
    }
    case SERVER_COMMANDS.verifyFile:
    case SERVER_COMMANDS.verifyContract: {
      const { summary, problems } = parseVerifySummary(result);
      if (!summary) return { kind: 'invalid', message: `${command}: ${problems.join('; ')}` };
      return { kind: 'verified', message: verifyMessage(summary), cancelled: summary.cancelled };
    }
    default:
      return { kind: 'nothing' };
  }
}

/** One line for a finished run: `ran 2 contracts: 1 checked, 1 tested (2 from the cache)`; never
 * "verified", since a tested or assumed result is not. */
function verifyMessage(s: VerifySummary): string {
  if (s.cancelled) return 'verification stopped: the document changed (save to run it again)';
  const counts = new Map<string, number>();
  for (const c of s.contracts) counts.set(c.status, (counts.get(c.status) ?? 0) + 1);
  const parts = [...counts].map(([status, n]) => `${n} ${status}`);
  const ran = s.executed + s.cached;
  const cache = s.cached > 0 ? ` (${s.cached} from the cache)` : '';
  return `ran ${ran} contract${ran === 1 ? '' : 's'}: ${parts.join(', ')}${cache}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}

/**
 * The graph webview: the mermaid source as text (the extension ships no script and loads nothing
 * from the network; paste it into any mermaid renderer). A strict CSP forbids scripts.
 */
export function graphHtml(graphName: string, format: string, text: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';">
<title>${escapeHtml(graphName)}</title>
<style>
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
  pre { font-family: var(--vscode-editor-font-family); background: var(--vscode-textCodeBlock-background); padding: 1em; overflow: auto; }
</style>
</head>
<body>
<h2>Graph <code>${escapeHtml(graphName)}</code></h2>
<p>${escapeHtml(format)} source from <code>tlc lsp</code>:</p>
<pre>${escapeHtml(text)}</pre>
</body>
</html>
`;
}
