import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { autoMaxConnections } from './connection-guard';

describe('autoMaxConnections', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-limits-'));

  it('is 80 % of the soft open-files limit', () => {
    const file = join(dir, 'limits');
    writeFileSync(
      file,
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                40000                files\n',
    );
    expect(autoMaxConnections(file)).toBe(16000);
  });

  it('is 0 (no cap) where the limit cannot be read', () => {
    expect(autoMaxConnections(join(dir, 'missing'))).toBe(0);
    const file = join(dir, 'unlimited');
    writeFileSync(file, 'Max open files            unlimited            unlimited            files\n');
    expect(autoMaxConnections(file)).toBe(0);
  });
});
