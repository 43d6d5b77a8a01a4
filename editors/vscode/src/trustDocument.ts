// Where "Show Trust Report" puts the server's markdown: one read-only virtual document per spec
// file (scheme `tl-trust`), previewed beside the spec. Showing the report again replaces that
// document's text, so the open preview refreshes instead of another unsaved "Untitled-N" buffer
// piling up (and asking to be saved when VS Code closes). Pure: no `vscode` import.

export const TRUST_SCHEME = 'tl-trust';

export interface TrustDocumentAddress {
  /** Shown as the preview's title: `<spec file name> trust report.md`. */
  path: string;
  /** The spec's URI, so two specs with the same file name get different documents. */
  query: string;
}

/** The virtual document that holds the trust report of the spec at `specUri`. */
export function trustDocumentAddress(specUri: string): TrustDocumentAddress {
  const withoutQuery = specUri.replace(/[?#].*$/, '');
  const last = withoutQuery.slice(withoutQuery.lastIndexOf('/') + 1);
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    name = last; // not valid percent-encoding: show it as it is
  }
  // A `/` or `\` from the decoded name would add path segments; the title needs none.
  const safe = name.replace(/[/\\]/g, '_') || 'spec';
  return { path: `/${safe} trust report.md`, query: specUri };
}

/** What a report document says before the server has filled it (e.g. a preview restored after a
 * window reload, when this session has not shown that report yet). */
export const UNFILLED_TRUST_REPORT =
  '# Trust report\n\nRun **tl: Show Trust Report** on the `.tl` file to fill this in.\n';
