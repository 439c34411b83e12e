import { cutPage } from './history-page';

const rows = (...times: string[]) => times.map((created_at, i) => ({ id: i, created_at }));

describe('cutPage', () => {
  it('returns everything when there is no next page', () => {
    expect(cutPage(rows('c', 'b', 'a'), 3)).toEqual({ page: rows('c', 'b', 'a') });
  });

  it('returns exactly limit rows when the page ends between two instants', () => {
    expect(cutPage(rows('d', 'c', 'b', 'a'), 3)).toEqual({ page: rows('d', 'c', 'b') });
  });

  it('drops a trailing group that continues past the page', () => {
    expect(cutPage(rows('d', 'c', 'b', 'b'), 3)).toEqual({ page: rows('d', 'c') });
    expect(cutPage(rows('d', 'c', 'c', 'c'), 3)).toEqual({ page: rows('d') });
  });

  it('asks for the whole group when one instant fills the page and goes on', () => {
    expect(cutPage(rows('c', 'c', 'c', 'c'), 3)).toEqual({ wholeGroup: 'c' });
    expect(cutPage(rows('c', 'c'), 1)).toEqual({ wholeGroup: 'c' });
  });

  it('paging with the last created_at as cursor sees every row exactly once', () => {
    const all = rows('g', 'f', 'f', 'f', 'f', 'e', 'd', 'd', 'c', 'b', 'b', 'b', 'a');
    for (const limit of [1, 2, 3, 4, 5, 20]) {
      const seen: typeof all = [];
      let cursor: string | undefined;
      for (let guard = 0; guard < 50; guard++) {
        const after = all.filter((r) => cursor === undefined || r.created_at < cursor);
        const cut = cutPage(after.slice(0, limit + 1), limit);
        const page = 'page' in cut ? cut.page : after.filter((r) => r.created_at === cut.wholeGroup);
        if (!page.length) break;
        seen.push(...page);
        cursor = page[page.length - 1].created_at;
      }
      expect(seen).toEqual(all);
    }
  });
});
