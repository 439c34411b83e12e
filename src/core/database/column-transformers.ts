import type { ValueTransformer } from 'typeorm';

/**
 * Postgres hands `bigint` back as a string (it may exceed 2^53); Herald's bigint columns are
 * seqs, counts and serial ids that stay far below that, so entities read them as numbers.
 */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};
