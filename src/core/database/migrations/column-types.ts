import type { QueryRunner, TableColumnOptions } from 'typeorm';

/**
 * Column helpers that mean the same thing on SQLite and Postgres, so one migration serves
 * both engines. Times are stored as ISO-8601 UTC strings with milliseconds
 * (`2026-03-26T08:00:00.000Z`): they sort correctly as text on both engines.
 */
export const col = {
  id: (name = 'id'): TableColumnOptions => ({ name, type: 'varchar', length: '64', isPrimary: true }),
  ref: (name: string, nullable = false): TableColumnOptions => ({
    name,
    type: 'varchar',
    length: '128',
    isNullable: nullable,
  }),
  text: (name: string, nullable = false): TableColumnOptions => ({ name, type: 'text', isNullable: nullable }),
  varchar: (name: string, length: number, nullable = false): TableColumnOptions => ({
    name,
    type: 'varchar',
    length: String(length),
    isNullable: nullable,
  }),
  time: (name: string, nullable = false): TableColumnOptions => ({
    name,
    type: 'varchar',
    length: '24',
    isNullable: nullable,
  }),
  bool: (name: string, fallback: boolean): TableColumnOptions => ({
    name,
    type: 'boolean',
    default: fallback ? 'true' : 'false',
  }),
  int: (name: string, fallback = 0): TableColumnOptions => ({ name, type: 'integer', default: String(fallback) }),
  bigint: (name: string, nullable = false): TableColumnOptions => ({ name, type: 'bigint', isNullable: nullable }),
  /** An auto-incrementing 64-bit key: bigserial-like on Postgres, INTEGER PRIMARY KEY on SQLite. */
  serial: (runner: QueryRunner, name: string): TableColumnOptions => ({
    name,
    type: runner.connection.options.type === 'postgres' ? 'bigint' : 'integer',
    isPrimary: true,
    isGenerated: true,
    generationStrategy: 'increment',
  }),
};
