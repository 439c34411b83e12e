import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from './data-source-options';
import { Database } from './database.service';

describe('Database.query on SQLite', () => {
  let dataSource: DataSource;
  let db: Database;

  beforeAll(async () => {
    dataSource = await new DataSource(buildDataSourceOptions({ sqlitePath: ':memory:', poolSize: 1 })).initialize();
    db = new Database(dataSource);
  });
  afterAll(() => dataSource.destroy());

  it('binds $n placeholders by number, whatever their order or repetition in the text', async () => {
    const [row] = await db.read((m) =>
      db.query<{ a: string; b: number; again: string }>(m, 'SELECT $2 AS a, $1 AS b, $2 AS again', [7, 'x']),
    );
    expect(row).toEqual({ a: 'x', b: 7, again: 'x' });
  });

  it('serves any values with one fixed text', async () => {
    const run = (n: number) => db.read((m) => db.query<{ v: number }>(m, 'SELECT $1 + 1 AS v', [n]));
    expect(await run(1)).toEqual([{ v: 2 }]);
    expect(await run(41)).toEqual([{ v: 42 }]);
  });
});
