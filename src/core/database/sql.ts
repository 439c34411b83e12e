import type { EntityManager } from 'typeorm';

/** Positional placeholders for raw SQL on either engine: `$1, $2` on Postgres, `?` on SQLite. */
export class Sql {
  private readonly params: unknown[] = [];

  constructor(private readonly postgres: boolean) {}

  /** Adds a parameter and returns its placeholder. */
  p(value: unknown): string {
    // better-sqlite3 binds no booleans; SQLite stores them as 0/1 anyway.
    this.params.push(!this.postgres && typeof value === 'boolean' ? Number(value) : value);
    return this.postgres ? `$${this.params.length}` : '?';
  }

  list(values: unknown[]): string {
    return values.map((v) => this.p(v)).join(', ');
  }

  run<T = Record<string, unknown>>(m: EntityManager, text: string): Promise<T[]> {
    return m.query(text, this.params);
  }
}
