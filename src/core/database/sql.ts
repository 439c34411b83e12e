import type { EntityManager } from 'typeorm';

/** Positional placeholders for raw SQL on either engine: `$1, $2` on Postgres, `?` on SQLite. */
export class Sql {
  private readonly params: unknown[] = [];

  constructor(private readonly postgres: boolean) {}

  /** Adds a parameter and returns its placeholder. */
  p(value: unknown): string {
    this.params.push(value);
    return this.postgres ? `$${this.params.length}` : '?';
  }

  list(values: unknown[]): string {
    return values.map((v) => this.p(v)).join(', ');
  }

  run<T = Record<string, unknown>>(m: EntityManager, text: string): Promise<T[]> {
    return m.query(text, this.params);
  }
}
