// Finds the `tlc` binary: the `tl.server.path` setting first, else `tlc` on PATH.
// Pure apart from the injected file check, so it is tested under plain node.

import * as path from 'path';

export interface ResolveInput {
  /** Value of `tl.server.path` (may be empty). */
  configured: string | undefined;
  /** First workspace folder, for relative settings. */
  workspaceFolder?: string;
  env: { PATH?: string; Path?: string; PATHEXT?: string; HOME?: string; USERPROFILE?: string };
  platform: NodeJS.Platform;
  /** True when `file` exists and can be executed. */
  isExecutable: (file: string) => boolean;
}

export type Resolved = { ok: true; path: string } | { ok: false; message: string };

export const SERVER_BINARY = 'tlc';

function expandHome(p: string, env: ResolveInput['env']): string {
  const home = env.HOME ?? env.USERPROFILE;
  if (home && (p === '~' || p.startsWith('~/') || p.startsWith('~\\'))) {
    return path.join(home, p.slice(1));
  }
  return p;
}

export function resolveServerPath(input: ResolveInput): Resolved {
  const { env, platform, isExecutable } = input;
  const pathApi = platform === 'win32' ? path.win32 : path.posix;
  const configured = input.configured?.trim() ?? '';
  if (configured.length > 0) {
    let candidate = expandHome(configured, env);
    if (!pathApi.isAbsolute(candidate)) {
      if (!input.workspaceFolder) {
        return {
          ok: false,
          message: `tl.server.path is the relative path "${configured}" but no workspace folder is open to resolve it against.`,
        };
      }
      candidate = pathApi.join(input.workspaceFolder, candidate);
    }
    if (isExecutable(candidate)) return { ok: true, path: candidate };
    return {
      ok: false,
      message: `tl.server.path is set to "${configured}", but ${candidate} is not an executable file. Fix the setting or clear it to use \`${SERVER_BINARY}\` from PATH.`,
    };
  }
  const searchPath = env.PATH ?? env.Path ?? '';
  const separator = platform === 'win32' ? ';' : ':';
  const extensions =
    platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';').filter((e) => e.length > 0) : [''];
  for (const dir of searchPath.split(separator)) {
    if (dir.length === 0) continue;
    for (const ext of extensions) {
      const candidate = pathApi.join(dir, SERVER_BINARY + ext.toLowerCase());
      if (isExecutable(candidate)) return { ok: true, path: candidate };
    }
  }
  return {
    ok: false,
    message: `Could not find \`${SERVER_BINARY}\` on PATH, so the tl language server cannot start. Build it with \`cargo install --path cli\` in the tl repository, or set tl.server.path to the binary.`,
  };
}
