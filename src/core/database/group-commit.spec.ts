import { GroupCommit } from './group-commit';

describe('GroupCommit', () => {
  it('commits what was added in one turn together, and what came during a commit in the next group', async () => {
    const groups: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const commits = new GroupCommit<number, string>(async (items) => {
      groups.push(items);
      if (groups.length === 1) await gate;
      return items.map((i) => `ok ${i}`);
    }, 3);
    const first = [1, 2].map((i) => commits.add(i));
    await new Promise((resolve) => setImmediate(resolve));
    // The first group is committing; these wait for the next ones, at most 3 each.
    const later = [3, 4, 5, 6].map((i) => commits.add(i));
    release();
    expect(await Promise.all([...first, ...later])).toEqual(['ok 1', 'ok 2', 'ok 3', 'ok 4', 'ok 5', 'ok 6']);
    expect(groups).toEqual([[1, 2], [3, 4, 5], [6]]);
  });

  it('rejects every item of a group that failed, and goes on with the next group', async () => {
    let calls = 0;
    const commits = new GroupCommit<number, number>(async (items) => {
      if (++calls === 1) throw new Error('database gone');
      return items;
    }, 10);
    const failed = [commits.add(1), commits.add(2)];
    await expect(Promise.all(failed.map((p) => p.catch((err: Error) => err.message)))).resolves.toEqual([
      'database gone',
      'database gone',
    ]);
    await expect(commits.add(3)).resolves.toBe(3);
  });
});
