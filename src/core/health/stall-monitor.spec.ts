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
  let monitor: StallMonitor;
  let metrics: MetricsService;

  beforeAll(() => {
    Logger.overrideLogger(false);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((fields: unknown, message?: unknown) => {
      warnings.push({ fields: fields as Record<string, unknown>, message });
    });
    metrics = new MetricsService();
    monitor = new StallMonitor(metrics, { thresholdMs: 300, checkEveryMs: 100 });
    monitor.start();
  });
  afterAll(() => {
    monitor.onApplicationShutdown();
    jest.restoreAllMocks();
  });

  it('logs one warn line per stall past the threshold, with its duration, and none for shorter blocks', async () => {
    await sleep(250);
    expect(warnings).toEqual([]);

    block(700);
    await sleep(400);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toBe('event loop stalled');
    expect(warnings[0].fields.stalledMs).toBeGreaterThanOrEqual(600);
    expect(warnings[0].fields.stalledMs).toBeLessThan(1500);

    block(100);
    await sleep(400);
    expect(warnings).toHaveLength(1);

    block(500);
    await sleep(400);
    expect(warnings).toHaveLength(2);
    expect(warnings[1].fields.stalledMs).toBeGreaterThanOrEqual(400);
    expect(await metrics.registry.metrics()).toMatch(/^herald_event_loop_stalls_total 2$/m);
  });
});
