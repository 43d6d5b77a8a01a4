// Drives VS Code's workbench (as served by code-server) in Chromium through playwright-core, the
// way a user would: explorer clicks, the command palette, Go to Line. Every wait is bounded.

import { createRequire } from 'node:module';
import path from 'node:path';

/** Chromium flags: no sandbox (CI runs as root), and nothing that reaches the network. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Debian's chromium with a fresh profile in `profileDir`. */
export async function launchBrowser(toolsDir, executablePath, profileDir, viewport) {
  const require = createRequire(path.join(toolsDir, 'node_modules', 'noop.js'));
  const { chromium } = require('playwright-core');
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  return { context, page };
}

const normalize = (text) => (text ?? '').replace(/\s+/g, ' ').trim();

export class Workbench {
  constructor(page) {
    this.page = page;
  }

  async open(url, folder) {
    await this.page.goto(`${url}/?folder=${encodeURIComponent(folder)}`, { timeout: 60_000 });
    await this.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  }

  /** Opens a top-level file of the workspace by clicking it in the Explorer. */
  async openFromExplorer(name) {
    await this.page.getByRole('treeitem', { name, exact: true }).click();
    await this.page.locator(`.tab.active[aria-label^="${name}"]`).waitFor();
    await this.activeEditor().locator('.view-lines .view-line').first().waitFor();
  }

  /** Brings an open editor to the front by clicking its tab (its label starts with `name`). */
  async focusTab(name) {
    await this.page.locator(`.tab[aria-label^="${name}"]`).first().click();
    await this.page.locator(`.tab.active[aria-label^="${name}"]`).first().waitFor();
  }

  /** Closes an open editor with its tab's close button. */
  async closeTab(name) {
    const tab = this.page.locator(`.tab[aria-label^="${name}"]`).first();
    await tab.hover();
    await tab.locator('.tab-actions .codicon-close').click();
    await tab.waitFor({ state: 'detached' });
  }

  /** The labels of every open editor's tab, in every group. */
  async tabLabels() {
    return (await this.page.locator('.tab .label-name').allTextContents()).map(normalize);
  }

  activeEditor() {
    return this.page.locator('.editor-group-container.active .editor-instance');
  }

  async pressInEditor(keys) {
    await this.activeEditor().locator('.view-lines').click({ position: { x: 5, y: 5 } });
    await this.page.keyboard.press(keys);
  }

  /**
   * Opens the command palette and returns its input. A webview (the report, the graph) that has
   * the keyboard swallows F1 or forwards it to the workbench late, so the palette may not open
   * or may open and close again: the keyboard is given back to the workbench (the side bar's
   * title) first, and the palette must still be open a moment after it appeared.
   */
  async openPalette() {
    const input = this.page.locator('.quick-input-widget input.input');
    for (let attempt = 0; attempt < 3; attempt++) {
      const inWebview = await this.page.evaluate(() => document.activeElement?.tagName === 'IFRAME');
      if (inWebview) {
        await this.page.locator('.part.sidebar .composite.title').click({ position: { x: 5, y: 5 } });
      }
      if (!(await input.isVisible())) {
        await this.page.keyboard.press('F1');
      }
      try {
        await input.waitFor({ timeout: 5000 });
        await this.page.waitForTimeout(300);
        if (await input.isVisible()) {
          return input;
        }
      } catch {
        // Not open: try again with the focus moved.
      }
    }
    await input.waitFor();
    return input;
  }

  /** Runs a command by its palette title, e.g. "tl: Verify File". */
  async runCommand(title) {
    const input = await this.openPalette();
    await input.fill(`>${title}`);
    const row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    await row.waitFor();
    await this.page.keyboard.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /** Moves the cursor of the active editor to a 1-based line and column (quick input `:L:C`). */
  async goTo(line, column) {
    const input = await this.openPalette();
    await input.fill(`:${line}:${column}`);
    await this.page.keyboard.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await this.page
      .locator('[id="status.editor.selection"]')
      .filter({ hasText: `Ln ${line}, Col ${column}` })
      .waitFor();
  }

  /** Text of a status bar item, whitespace collapsed (codicons render as empty spans). */
  async statusBarText(id) {
    return normalize(await this.page.locator(`[id="${id}"]`).textContent({ timeout: 5000 }));
  }

  /** Polls `read` until `accept` holds; throws with the last value after `timeoutMs`. */
  async waitUntil(what, read, accept, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
      try {
        last = await read();
        if (accept(last)) return last;
      } catch (err) {
        last = `(${err.message.split('\n')[0]})`;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
      }
      await this.page.waitForTimeout(250);
    }
  }

  /** Text of the visible hover widget. */
  async hoverText() {
    return normalize(await this.page.locator('.monaco-hover:visible').first().textContent({ timeout: 2000 }));
  }

  async dismiss() {
    await this.page.keyboard.press('Escape');
  }
}

export { normalize };
