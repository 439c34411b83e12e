import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ApiKeyEntity } from '../core/auth/api-key.entity';
import { ApiKeyStore } from '../core/auth/api-key.store';
import { ApiKeysService } from '../core/auth/api-keys.service';
import { SCOPES } from '../core/auth/principal';
import { ConfigError, loadProcessConfig } from '../core/config';
import { openDatabase } from '../core/database/migrate';

const USAGE = `Usage: npm run key:create -- --kind app|user --org <organisation_id> --scopes a,b [--user <user_id>] [--workspaces w1,w2] [--name <text>]
Scopes: ${SCOPES.join(', ')}`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        kind: { type: 'string' },
        org: { type: 'string' },
        user: { type: 'string' },
        workspaces: { type: 'string' },
        scopes: { type: 'string' },
        name: { type: 'string' },
      },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (args.kind !== 'app' && args.kind !== 'user') fail('--kind must be app or user');
  if (!args.org) fail('--org is required');
  if (args.kind === 'user' && !args.user) fail('--user is required for a user key');
  if (args.kind === 'app' && args.user) fail('--user is only for user keys');
  const scopes = list(args.scopes);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length) fail(`unknown scope(s): ${unknown.join(', ')}`);

  const config = loadProcessConfig();
  const { db, close } = await openDatabase(config.database, [ApiKeyEntity]);
  try {
    const key = await db.transaction((m) =>
      new ApiKeysService(db, new ApiKeyStore(db)).insert(m, {
        kind: args.kind as 'app' | 'user',
        organisation_id: args.org!,
        user_id: args.user,
        workspace_ids: list(args.workspaces),
        scopes,
        name: args.name ?? 'created from the command line',
      }),
    );
    process.stdout.write(`${JSON.stringify(key, null, 2)}\n`);
  } finally {
    await close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : (err?.stack ?? String(err))}\n`);
  process.exit(1);
});
