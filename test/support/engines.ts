import { services } from './services';

/** Suites (and cases) that only mean something on Postgres; the embedded SQLite run skips them. */
export const describePostgres = services.databaseUrl ? describe : describe.skip;
export const itOnPostgres = services.databaseUrl ? it : it.skip;
/** Suites about the embedded SQLite engine; the Postgres run skips them. */
export const describeSqlite = services.databaseUrl ? describe.skip : describe;
