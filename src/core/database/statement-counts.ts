import type { Logger as TypeOrmLogger } from 'typeorm';

/** The statement kinds counted; anything else is `other`. */
const KINDS = new Set(['select', 'insert', 'update', 'delete', 'begin', 'commit', 'rollback', 'with']);

/**
 * Counts every statement the database is sent, by its first keyword. TypeORM hands every query
 * (transaction control included) to its logger before running it, so this sees each round trip
 * on both engines. Set as the data source's logger; it writes nothing, as `logging: false` did.
 * The counts are what `herald_db_statements_total` reports: statements per appended event or per
 * delivered webhook do not depend on how busy the machine is.
 */
export class StatementCounts implements TypeOrmLogger {
  private readonly counts = new Map<string, number>();

  logQuery(query: string): void {
    const kind = firstKeyword(query);
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  /** Statements sent so far, by kind. */
  snapshot(): ReadonlyMap<string, number> {
    return this.counts;
  }

  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

function firstKeyword(query: string): string {
  const word = /^\s*([A-Za-z]+)/.exec(query)?.[1]?.toLowerCase() ?? 'other';
  if (word === 'start') return 'begin';
  return KINDS.has(word) ? word : 'other';
}
