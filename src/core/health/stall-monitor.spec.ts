import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { MetricsService } from './metrics.service';
import { StallMonitor } from './stall-monitor';

/** Blocks the event loop, as a runaway synchronous computation would. */
function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('StallMonitor', () => {
  const warnings: { fields: Record<string, unknown>; message: unknown }[] = [];

  beforeAll(() => {
    Logger.overrideLogger(false);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((fields: unknown, message?: unknown) => {
      warnings.push({ fields: fields as Record<string, unknown>, message });
    });
  });
  beforeEach(() => {
    warnings.length = 0;
  });
  afterAll(() => {
    jest.restoreAllMocks();
  });

  describe('on a staged clock', () => {
    // Fake timers make the counts exact: a loaded machine stalls a real process now and then,
    // and a real-time threshold test would count those stalls too.
    let monitor: StallMonitor;
    let metrics: MetricsService;

    beforeEach(() => {
      jest.useFakeTimers();
      metrics = new MetricsService();
      monitor = new StallMonitor(metrics, { thresholdMs: 300, checkEveryMs: 100, now: () => Date.now() });
      monitor.start();
    });
    afterEach(() => {
      monitor.onApplicationShutdown();
      jest.useRealTimers();
    });

    /** The clock moves on while no timer can fire: what a blocked event loop looks like. */
    const stall = (ms: number) => jest.setSystemTime(Date.now() + ms);

    it('logs one warn line per stall past the threshold, with its duration, and none for shorter blocks', async () => {
      jest.advanceTimersByTime(1000);
      expect(warnings).toEqual([]);

      stall(700);
      jest.advanceTimersByTime(400);
      expect(warnings).toEqual([{ fields: { stalledMs: 700, thresholdMs: 300 }, message: 'event loop stalled' }]);

      stall(299);
      jest.advanceTimersByTime(400);
      expect(warnings).toHaveLength(1);

      stall(300);
      jest.advanceTimersByTime(400);
      expect(warnings).toHaveLength(2);
      expect(warnings[1].fields.stalledMs).toBe(300);
      expect(await metrics.registry.metrics()).toMatch(/^herald_event_loop_stalls_total 2$/m);
    });

    it('stops ticking on shutdown', () => {
      monitor.onApplicationShutdown();
      stall(5000);
      jest.advanceTimersByTime(1000);
      expect(warnings).toEqual([]);
    });
  });

  it('sees a real block of the event loop', async () => {
    const monitor = new StallMonitor(undefined, { thresholdMs: 300, checkEveryMs: 100 });
    monitor.start();
    try {
      await sleep(150);
      block(1500);
      await sleep(300);
      // Only the block is asserted: the machine may add stalls of its own around it.
      const seen = warnings.map((w) => w.fields.stalledMs as number);
      expect(seen.some((ms) => ms >= 1400 && ms < 5000)).toBe(true);
    } finally {
      monitor.onApplicationShutdown();
    }
  });
});
