// Maps contract statuses to gutter decorations. Pure: the extension turns these plans into
// `TextEditorDecorationType`s; tests check the mapping without VS Code.

import { CONTRACT_STATUSES, ContractReport, ContractStatus } from './protocol';
import { formatMillis } from './statusSummary';

export interface DecorationStyle {
  /** File under media/ drawn in the gutter. */
  icon: string;
  /** Colour in the overview ruler (right edge), as a theme colour id. */
  rulerColor: string;
}

export const DECORATION_STYLE: Record<ContractStatus, DecorationStyle> = {
  proved: { icon: 'proved.svg', rulerColor: 'testing.iconPassed' },
  checked: { icon: 'checked.svg', rulerColor: 'testing.iconPassed' },
  tested: { icon: 'tested.svg', rulerColor: 'editorInfo.foreground' },
  assumed: { icon: 'assumed.svg', rulerColor: 'editorWarning.foreground' },
  uncovered: { icon: 'uncovered.svg', rulerColor: 'editorWarning.foreground' },
  falsified: { icon: 'falsified.svg', rulerColor: 'editorError.foreground' },
  running: { icon: 'running.svg', rulerColor: 'editorInfo.foreground' },
  error: { icon: 'error.svg', rulerColor: 'editorError.foreground' },
  unknown: { icon: 'unknown.svg', rulerColor: 'editorHint.foreground' },
};

export interface GutterMark {
  /** Zero-based line of the contract's first character. */
  line: number;
  hover: string;
}

/** Hover text for a contract's gutter icon; says plainly that `tested` is not verified. */
export function hoverFor(c: ContractReport): string {
  const meaning: Record<ContractStatus, string> = {
    proved: 'proved',
    checked: 'checked (a sound method established it)',
    tested: 'tested by sampling, not verified',
    assumed: 'rests on an assumption',
    uncovered: 'not covered by any method',
    falsified: 'falsified: a counterexample exists',
    running: 'verification running',
    error: 'the check failed to run',
    unknown: 'status unknown',
  };
  const details = [c.method ? `method: ${c.method}` : '', c.millis !== undefined ? formatMillis(c.millis) : '']
    .filter((d) => d.length > 0)
    .join(', ');
  return [`**${c.name}**: ${meaning[c.status]}`, details, c.message ?? ''].filter((s) => s.length > 0).join('\n\n');
}

/**
 * One list of gutter marks per status, every status present (empty lists clear old icons). When two
 * contracts start on the same line the worse status wins the gutter, so a falsified contract is
 * never hidden behind a checked one.
 */
export function planGutter(contracts: readonly ContractReport[]): Record<ContractStatus, GutterMark[]> {
  const rank = (s: ContractStatus) => SEVERITY_RANK.indexOf(s);
  const byLine = new Map<number, ContractReport>();
  for (const c of contracts) {
    const line = c.range.start.line;
    const current = byLine.get(line);
    if (!current || rank(c.status) < rank(current.status)) byLine.set(line, c);
  }
  const plan = Object.fromEntries(CONTRACT_STATUSES.map((s) => [s, [] as GutterMark[]])) as Record<
    ContractStatus,
    GutterMark[]
  >;
  for (const [line, c] of [...byLine.entries()].sort((a, b) => a[0] - b[0])) {
    plan[c.status].push({ line, hover: hoverFor(c) });
  }
  return plan;
}

/** Worst first. */
const SEVERITY_RANK: ContractStatus[] = [
  'falsified',
  'error',
  'running',
  'uncovered',
  'unknown',
  'assumed',
  'tested',
  'checked',
  'proved',
];
