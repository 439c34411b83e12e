// Preloaded (`node --import bench/gc-hook.mjs`) into the servers the bench starts, Herald and the
// baselines alike, so that nothing in src/ has to know about the bench. On SIGWINCH it forces a full
// garbage collection (the servers run with --expose-gc) and writes process.memoryUsage() to
// $BENCH_MEM_DIR/<pid>.json, which the bench reads. Without BENCH_MEM_DIR it does nothing.
// SIGWINCH, not SIGUSR2: Nest's enableShutdownHooks() stops the app on SIGUSR2, and SIGWINCH is
// ignored by default, so a server without the hook is unaffected.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_MEM_DIR;
if (dir) {
  process.on('SIGWINCH', () => {
    if (typeof globalThis.gc === 'function') {
      globalThis.gc();
      globalThis.gc();
    }
    const file = join(dir, `${process.pid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify({ ...process.memoryUsage(), gc: typeof globalThis.gc === 'function' }));
    renameSync(`${file}.tmp`, file);
  });
}
