// Finds the contract or graph under the cursor from the document text, so the commands work before
// the server has sent any `tl/status`. Pure: no `vscode` import.

import { ContractReport } from './protocol';

const ITEM_START = /^\s*(graph|block|contract|tolerance|assume|import)\b\s*([A-Za-z_][A-Za-z0-9_]*)?/;

/** The nearest item of one of `kinds` that starts at or above `line` (zero-based), if the cursor
 * is still inside it (no other item starts in between). */
export function itemAt(text: string, line: number, kinds: readonly string[]): string | undefined {
  const lines = text.split(/\r?\n/);
  for (let i = Math.min(line, lines.length - 1); i >= 0; i--) {
    const m = ITEM_START.exec(lines[i]);
    if (!m) continue;
    return kinds.includes(m[1]) && m[2] ? m[2] : undefined;
  }
  return undefined;
}

export function contractAt(text: string, line: number, reported: readonly ContractReport[] = []): string | undefined {
  const inside = reported.find((c) => c.range.start.line <= line && line <= c.range.end.line);
  return inside?.name ?? itemAt(text, line, ['contract']);
}

export function graphAt(text: string, line: number): string | undefined {
  return itemAt(text, line, ['graph', 'block']);
}

/** Every graph and block name in the text, for a quick pick when the cursor is elsewhere. */
export function graphNames(text: string): string[] {
  const names: string[] = [];
  for (const l of text.split(/\r?\n/)) {
    const m = ITEM_START.exec(l);
    if (m && (m[1] === 'graph' || m[1] === 'block') && m[2]) names.push(m[2]);
  }
  return names;
}
