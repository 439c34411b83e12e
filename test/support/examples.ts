import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The repository root: examples run from there, as the README's commands do. Tests run from it
 * (npm test); ESM test modules have no __dirname.
 */
export const ROOT = process.cwd();

export function readme(): string {
  return readFileSync(join(ROOT, 'README.md'), 'utf8');
}

/** One example running as a child process (a shell command, as a reader would type it). */
export interface ExampleRun {
  readonly command: string;
  /** stdout, one entry per complete line. */
  readonly lines: string[];
  stderr(): string;
  /** The exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** The first stdout line matching `pattern`; fails if the process exits first or after `timeoutMs`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  kill(): void;
}

/**
 * Runs `command` with bash from the repository root, with only PATH and `env` in its environment.
 * Killed (with its process group) after `limitMs` whatever it does, so no run outlives its test.
 */
export function runExample(command: string, env: Record<string, string>, limitMs = 45_000): ExampleRun {
  const child = spawn('bash', ['-c', command], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: string[] = [];
  let stdout = '';
  let stderr = '';
  let exitCode: number | null | undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const parts = stdout.split('\n');
    stdout = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const kill = () => {
    if (exitCode !== undefined || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const limit = setTimeout(kill, limitMs);
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(limit);
      if (stdout) lines.push(stdout);
      exitCode = code;
      resolve(code);
    }),
  );
  const describe = () => `${command}\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`;
  return {
    command,
    lines,
    stderr: () => stderr,
    exited,
    kill,
    async line(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const line of lines) {
          const match = pattern.exec(line);
          if (match) return match;
        }
        if (exitCode !== undefined) throw new Error(`exited (${exitCode}) before printing ${pattern}: ${describe()}`);
        if (Date.now() > deadline) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms: ${describe()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** Runs `command` to its end; fails with its output unless it exits with `expectedCode`. */
export async function runToEnd(
  command: string,
  env: Record<string, string>,
  expectedCode = 0,
): Promise<{ stdout: string; stderr: string }> {
  const run = runExample(command, env);
  const code = await run.exited;
  const result = { stdout: run.lines.join('\n'), stderr: run.stderr() };
  if (code !== expectedCode)
    throw new Error(`${command} exited with ${code}, not ${expectedCode}\n${result.stdout}\n${result.stderr}`);
  return result;
}
