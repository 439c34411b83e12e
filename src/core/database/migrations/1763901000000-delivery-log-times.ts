import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/** Rows read per round trip while looking for entries that share a time. */
const BATCH = 5000;
/** Entries moved per UPDATE (three bound parameters each, well inside both engines' limits). */
const MOVES_PER_UPDATE = 200;

const WIDE = 32;
const NARROW = 24;

/** `2026-03-26T08:14:22.123Z` + µs ↔ microseconds since the epoch (UTC, fixed width). */
function micros(time: string): bigint {
  const ms = Date.parse(`${time.slice(0, 23)}Z`);
  return BigInt(ms) * 1000n + BigInt(time.slice(23, 26).padEnd(3, '0'));
}
function format(us: bigint): string {
  return `${new Date(Number(us / 1000n)).toISOString().slice(0, 23)}${String(us % 1000n).padStart(3, '0')}Z`;
}

/**
 * Delivery log entries get times that are unique and ordered (docs/api-contracts.md "Ids, times, paging", see
 * src/core/webhooks/history-page.ts): `created_at` goes from milliseconds to microseconds
 * (`2026-03-26T08:14:22.123Z` → `2026-03-26T08:14:22.123000Z`), and entries of one organisation
 * that shared a time are spread over consecutive microseconds in their old page order
 * (time, then id), pushing later entries along only when more than a thousand shared one
 * millisecond. A unique index on (organisation_id, created_at) replaces the plain one.
 */
export class DeliveryLogTimes1763901000000 implements MigrationInterface {
  name = 'DeliveryLogTimes1763901000000';

  async up(runner: QueryRunner): Promise<void> {
    const postgres = runner.connection.options.type === 'postgres';
    // SQLite does not enforce a varchar length.
    if (postgres) await runner.query(`ALTER TABLE webhook_deliveries ALTER COLUMN created_at TYPE varchar(${WIDE})`);
    await runner.query(
      `UPDATE webhook_deliveries SET created_at = substr(created_at, 1, 23) || '000Z' WHERE length(created_at) = ${NARROW}`,
    );

    const p = (i: number) => (postgres ? `$${i}` : '?');
    const shared = (await runner.query(
      `SELECT organisation_id, MIN(created_at) AS first, MAX(created_at) AS last FROM
         (SELECT organisation_id, created_at FROM webhook_deliveries GROUP BY organisation_id, created_at HAVING COUNT(*) > 1) d
       GROUP BY organisation_id`,
    )) as { organisation_id: string; first: string; last: string }[];
    for (const org of shared) {
      // Read the organisation's entries from its first shared time on, in page order, until no
      // entry needs to move any more; write the moves once everything is read.
      const moves: { id: string; created_at: string }[] = [];
      let previous: bigint | null = null;
      let after: { created_at: string; id: string } | null = null;
      for (let done = false; !done;) {
        const rows = (await runner.query(
          after
            ? `SELECT id, created_at FROM webhook_deliveries WHERE organisation_id = ${p(1)} AND (created_at > ${p(2)} OR (created_at = ${p(3)} AND id > ${p(4)}))
               ORDER BY created_at, id LIMIT ${BATCH}`
            : `SELECT id, created_at FROM webhook_deliveries WHERE organisation_id = ${p(1)} AND created_at >= ${p(2)} ORDER BY created_at, id LIMIT ${BATCH}`,
          after
            ? [org.organisation_id, after.created_at, after.created_at, after.id]
            : [org.organisation_id, org.first],
        )) as { id: string; created_at: string }[];
        for (const row of rows) {
          const own = micros(row.created_at);
          const time: bigint = previous !== null && previous >= own ? previous + 1n : own;
          if (time !== own) moves.push({ id: row.id, created_at: format(time) });
          else if (row.created_at > org.last) {
            done = true;
            break;
          }
          previous = time;
        }
        if (rows.length < BATCH) done = true;
        after = rows[rows.length - 1] ?? after;
      }
      for (let i = 0; i < moves.length; i += MOVES_PER_UPDATE) {
        const chunk = moves.slice(i, i + MOVES_PER_UPDATE);
        const cases = chunk.map((_, j) => `WHEN ${p(2 * j + 1)} THEN ${p(2 * j + 2)}`).join(' ');
        const ids = chunk.map((_, j) => p(2 * chunk.length + j + 1)).join(', ');
        await runner.query(`UPDATE webhook_deliveries SET created_at = CASE id ${cases} END WHERE id IN (${ids})`, [
          ...chunk.flatMap((m) => [m.id, m.created_at]),
          ...chunk.map((m) => m.id),
        ]);
      }
    }

    await runner.dropIndex('webhook_deliveries', 'ix_webhook_deliveries_org_created');
    await runner.createIndex(
      'webhook_deliveries',
      new TableIndex({
        name: 'ux_webhook_deliveries_org_created',
        columnNames: ['organisation_id', 'created_at'],
        isUnique: true,
      }),
    );
  }

  async down(runner: QueryRunner): Promise<void> {
    const postgres = runner.connection.options.type === 'postgres';
    await runner.dropIndex('webhook_deliveries', 'ux_webhook_deliveries_org_created');
    await runner.createIndex(
      'webhook_deliveries',
      new TableIndex({ name: 'ix_webhook_deliveries_org_created', columnNames: ['organisation_id', 'created_at'] }),
    );
    await runner.query(
      `UPDATE webhook_deliveries SET created_at = substr(created_at, 1, 23) || 'Z' WHERE length(created_at) > ${NARROW}`,
    );
    if (postgres) await runner.query(`ALTER TABLE webhook_deliveries ALTER COLUMN created_at TYPE varchar(${NARROW})`);
  }
}
