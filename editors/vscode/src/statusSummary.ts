// Summarises one file's contracts for the status bar. Pure: no `vscode` import.

import { ContractReport, ContractStatus } from './protocol';

/** Order of the counts in the summary: what needs attention first. */
const DISPLAY_ORDER: ContractStatus[] = [
  'falsified',
  'error',
  'running',
  'proved',
  'checked',
  'tested',
  'assumed',
  'uncovered',
  'unknown',
];

/** Codicon per status (rendered by VS Code as `$(name)`). */
export const STATUS_CODICON: Record<ContractStatus, string> = {
  proved: 'verified-filled',
  checked: 'pass',
  tested: 'beaker',
  assumed: 'bookmark',
  uncovered: 'circle-slash',
  falsified: 'error',
  running: 'sync~spin',
  error: 'warning',
  unknown: 'question',
};

export type SummarySeverity = 'ok' | 'warning' | 'error' | 'busy' | 'none';

export interface StatusSummary {
  /** Status bar text, codicons included. */
  text: string;
  /** Markdown tooltip: one line per contract. */
  tooltip: string;
  severity: SummarySeverity;
  counts: Partial<Record<ContractStatus, number>>;
}

export function countByStatus(contracts: readonly ContractReport[]): Partial<Record<ContractStatus, number>> {
  const counts: Partial<Record<ContractStatus, number>> = {};
  for (const c of contracts) {
    counts[c.status] = (counts[c.status] ?? 0) + 1;
  }
  return counts;
}

/**
 * The worst thing in the file decides the colour: a falsified contract or an error is an error; a
 * running check is busy; anything short of proved/checked (tested, assumed, uncovered, unknown)
 * is a warning, because a sampled or assumed claim is not a verified one.
 */
export function severityOf(counts: Partial<Record<ContractStatus, number>>): SummarySeverity {
  const has = (s: ContractStatus) => (counts[s] ?? 0) > 0;
  if (has('falsified') || has('error')) return 'error';
  if (has('running')) return 'busy';
  if (has('tested') || has('assumed') || has('uncovered') || has('unknown')) return 'warning';
  if (has('proved') || has('checked')) return 'ok';
  return 'none';
}

function describe(c: ContractReport): string {
  const details: string[] = [];
  if (c.method) details.push(`by ${c.method}`);
  if (c.millis !== undefined) details.push(formatMillis(c.millis));
  const suffix = details.length > 0 ? ` (${details.join(', ')})` : '';
  const message = c.message ? ` — ${c.message}` : '';
  return `$(${STATUS_CODICON[c.status]}) \`${c.name}\`: ${c.status}${suffix}${message}`;
}

export function formatMillis(millis: number): string {
  if (millis < 1000) return `${Math.round(millis)} ms`;
  if (millis < 60_000) return `${(millis / 1000).toFixed(1)} s`;
  return `${Math.floor(millis / 60_000)} min ${Math.round((millis % 60_000) / 1000)} s`;
}

export function summarize(contracts: readonly ContractReport[]): StatusSummary {
  const counts = countByStatus(contracts);
  if (contracts.length === 0) {
    return { text: 'tl: no contracts', tooltip: 'This file declares no contracts.', severity: 'none', counts };
  }
  const parts = DISPLAY_ORDER.filter((s) => (counts[s] ?? 0) > 0).map(
    (s) => `$(${STATUS_CODICON[s]}) ${counts[s]} ${s}`,
  );
  const lines = [...contracts]
    .sort((a, b) => a.range.start.line - b.range.start.line)
    .map(describe);
  return {
    text: `tl ${parts.join(' ')}`,
    tooltip: lines.join('\n\n'),
    severity: severityOf(counts),
    counts,
  };
}
