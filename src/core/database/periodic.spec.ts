import { nonOverlapping } from './periodic';

/** A job whose runs finish when the test says so. */
function gatedJob() {
  const runs: { release(): void; fail(err: Error): void }[] = [];
  let active = 0;
  let maxActive = 0;
  const job = () =>
    new Promise<void>((resolve, reject) => {
      active++;
      maxActive = Math.max(maxActive, active);
      const done = () => active--;
      runs.push({
        release: () => (done(), resolve()),
        fail: (err) => (done(), reject(err)),
      });
    });
  return { job, runs, maxActive: () => maxActive };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('nonOverlapping', () => {
  it('skips ticks while a run is in flight, so at most one run holds a connection', async () => {
    const { job, runs, maxActive } = gatedJob();
    const tick = nonOverlapping(job);
    void tick();
    await settle();
    for (let i = 0; i < 10; i++) void tick();
    await settle();
    expect(runs).toHaveLength(1);
    runs[0].release();
    await settle();
    void tick();
    await settle();
    expect(runs).toHaveLength(2);
    expect(maxActive()).toBe(1);
    runs[1].release();
  });

  it('fresh() waits for a run that starts after the call; concurrent callers share one follow-up', async () => {
    const { job, runs, maxActive } = gatedJob();
    const tick = nonOverlapping(job);
    void tick();
    await settle();
    let freshDone = 0;
    const waiters = [tick.fresh(), tick.fresh(), tick.fresh()].map((p) => p.then(() => freshDone++));
    runs[0].release();
    await settle();
    expect(freshDone).toBe(0);
    expect(runs).toHaveLength(2);
    runs[1].release();
    await Promise.all(waiters);
    expect(freshDone).toBe(3);
    expect(runs).toHaveLength(2);
    expect(maxActive()).toBe(1);
  });

  it('a failed run frees the job for the next tick and rejects only its own callers', async () => {
    const { job, runs } = gatedJob();
    const tick = nonOverlapping(job);
    const first = tick();
    await settle();
    const follow = tick.fresh();
    runs[0].fail(new Error('lock timeout'));
    await expect(first).rejects.toThrow('lock timeout');
    await settle();
    expect(runs).toHaveLength(2);
    runs[1].release();
    await expect(follow).resolves.toBeUndefined();
    const idle = tick.idle();
    await expect(idle).resolves.toBeUndefined();
  });

  it('idle() waits for the run in flight and a queued follow-up', async () => {
    const { job, runs } = gatedJob();
    const tick = nonOverlapping(job);
    void tick();
    await settle();
    void tick.fresh();
    let idle = false;
    void tick.idle().then(() => (idle = true));
    runs[0].release();
    await settle();
    expect(idle).toBe(false);
    runs[1].release();
    await settle();
    expect(idle).toBe(true);
  });
});
