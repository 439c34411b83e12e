import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { services } from './services';
import { waitFor } from './sockets';
import { freePort } from './test-app';
import type { TestDatabase } from './test-database';

// Tests run from the project root (npm test); ESM test modules have no __dirname.
const MAIN = join(process.cwd(), 'dist', 'src', 'main.js');

export interface ChildServer {
  url: string;
  process: ChildProcess;
  output: () => string;
  /** SIGKILL: no shutdown hooks, no flushing — a crash. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Runs the built server (`npm run build`) in a child process, as production does. */
export async function startChildServer(env: Record<string, string>): Promise<ChildServer> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first (npm test does)`);
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${env.PORT}`;
  await waitFor(
    'child server health',
    async () => {
      if (child.exitCode !== null) throw new Error(`child server exited: ${output}`);
      try {
        return (await fetch(`${url}/readyz`)).ok;
      } catch {
        return false;
      }
    },
    30_000,
  );
  return {
    url,
    process: child,
    output: () => output,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The environment of a child server on `database`: a free port, an operator key, quiet logs, Redis when the run has it. */
export async function childServerEnv(
  database: TestDatabase,
  extra: Record<string, string> = {},
): Promise<{ env: Record<string, string>; operator: string }> {
  const operator = `hrld_child_${randomBytes(12).toString('hex')}`;
  const env = {
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    HERALD_BOOTSTRAP_KEY: operator,
    DISPATCH_POLL_INTERVAL: '50ms',
    ...(services.redisUrl ? { REDIS_URL: services.redisUrl, REDIS_PREFIX: `herald-test-${database.id}` } : {}),
    ...database.env,
    ...extra,
  };
  return { env, operator };
}
