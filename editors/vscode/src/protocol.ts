// The wire contract between this extension and `tlc lsp` beyond standard LSP 3.17.
// Pure data: no `vscode` import, so the logic built on it runs under plain node.

/** Every status a contract can have. Only `proved` and `checked` are verification results; `tested`
 * means sampled, never verified. */
export const CONTRACT_STATUSES = [
  'proved',
  'checked',
  'tested',
  'assumed',
  'uncovered',
  'falsified',
  'running',
  'error',
  'unknown',
] as const;

export type ContractStatus = (typeof CONTRACT_STATUSES)[number];

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface ContractReport {
  name: string;
  range: LspRange;
  status: ContractStatus;
  method?: string;
  millis?: number;
  message?: string;
}

/** Params of the `tl/status` notification: the full list for one file each time. */
export interface StatusParams {
  uri: string;
  contracts: ContractReport[];
}

export const STATUS_NOTIFICATION = 'tl/status';

/** Server-side commands run with workspace/executeCommand (code lenses carry them too). */
export const SERVER_COMMANDS = {
  verifyFile: 'tl.verifyFile',
  verifyContract: 'tl.verifyContract',
  showTrust: 'tl.showTrust',
  showGraph: 'tl.showGraph',
} as const;

export function isContractStatus(value: unknown): value is ContractStatus {
  return typeof value === 'string' && (CONTRACT_STATUSES as readonly string[]).includes(value);
}

function isPosition(value: unknown): value is LspPosition {
  const p = value as LspPosition;
  return (
    typeof p === 'object' &&
    p !== null &&
    Number.isInteger(p.line) &&
    p.line >= 0 &&
    Number.isInteger(p.character) &&
    p.character >= 0
  );
}

/**
 * Validates a `tl/status` payload from the server. Malformed contracts are dropped (with the
 * reason) rather than trusted: a bad entry must never paint a wrong status in the editor.
 */
export function parseStatusParams(raw: unknown): { params: StatusParams | null; problems: string[] } {
  const problems: string[] = [];
  const obj = raw as { uri?: unknown; contracts?: unknown };
  if (typeof obj !== 'object' || obj === null || typeof obj.uri !== 'string') {
    return { params: null, problems: ['tl/status without a string "uri"'] };
  }
  if (!Array.isArray(obj.contracts)) {
    return { params: null, problems: ['tl/status without a "contracts" array'] };
  }
  const contracts: ContractReport[] = [];
  obj.contracts.forEach((entry: unknown, i: number) => {
    const c = entry as Partial<ContractReport>;
    if (typeof c !== 'object' || c === null || typeof c.name !== 'string') {
      problems.push(`contract #${i}: missing "name"`);
    } else if (!isContractStatus(c.status)) {
      problems.push(`contract ${c.name}: unknown status ${JSON.stringify(c.status)}`);
    } else if (!c.range || !isPosition(c.range.start) || !isPosition(c.range.end)) {
      problems.push(`contract ${c.name}: bad "range"`);
    } else {
      contracts.push({
        name: c.name,
        range: c.range,
        status: c.status,
        method: typeof c.method === 'string' ? c.method : undefined,
        millis: typeof c.millis === 'number' && Number.isFinite(c.millis) ? c.millis : undefined,
        message: typeof c.message === 'string' ? c.message : undefined,
      });
    }
  });
  return { params: { uri: obj.uri, contracts }, problems };
}

/** What `tl.verifyFile` and `tl.verifyContract` answer once the run ends. */
export interface VerifySummary {
  uri: string;
  /** The run stopped early: the document changed or a newer run started. */
  cancelled: boolean;
  /** Contracts executed now; the others came from the result cache. */
  executed: number;
  cached: number;
  /** Every contract of the file with its status, as the last `tl/status` sent them. */
  contracts: ContractReport[];
}

/** Validates a verify command's result; contracts go through the same checks as `tl/status`. */
export function parseVerifySummary(raw: unknown): { summary: VerifySummary | null; problems: string[] } {
  const obj = raw as Partial<VerifySummary>;
  if (typeof obj !== 'object' || obj === null || typeof obj.cancelled !== 'boolean') {
    return { summary: null, problems: ['verify result without a boolean "cancelled"'] };
  }
  const { params, problems } = parseStatusParams({ uri: obj.uri, contracts: obj.contracts });
  if (!params) return { summary: null, problems };
  const count = (n: unknown) => (typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : 0);
  return {
    summary: {
      uri: params.uri,
      cancelled: obj.cancelled,
      executed: count(obj.executed),
      cached: count(obj.cached),
      contracts: params.contracts,
    },
    problems,
  };
}
