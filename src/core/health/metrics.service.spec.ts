import { Logger } from '@nestjs/common';
import { MetricsService } from './metrics.service';

/** The sample lines of one metric name, as Prometheus would read them. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));
}

describe('MetricsService scrape-time gauges', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('a read that fails keeps the last good value, marks it stale, and the scrape still answers', async () => {
    const metrics = new MetricsService();
    let down = false;
    metrics.gauge('herald_test_head', 'test', async () => {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      return 42;
    });

    let text = await metrics.registry.metrics();
    expect(samples(text, 'herald_test_head')).toEqual(['herald_test_head 42']);
    expect(samples(text, 'herald_metric_stale')).toEqual(['herald_metric_stale{metric="herald_test_head"} 0']);

    down = true;
    text = await metrics.registry.metrics();
    expect(samples(text, 'herald_test_head')).toEqual(['herald_test_head 42']);
    expect(samples(text, 'herald_metric_stale')).toEqual(['herald_metric_stale{metric="herald_test_head"} 1']);
    expect(samples(text, 'herald_metric_read_errors_total')).toEqual([
      'herald_metric_read_errors_total{metric="herald_test_head"} 1',
    ]);
    // In-memory metrics are all still there.
    expect(text).toContain('herald_process_cpu_seconds_total');

    down = false;
    text = await metrics.registry.metrics();
    expect(samples(text, 'herald_metric_stale')).toEqual(['herald_metric_stale{metric="herald_test_head"} 0']);
  });

  it('a gauge never read is left out instead of showing 0', async () => {
    const metrics = new MetricsService();
    metrics.gauge('herald_test_never', 'test', () => {
      throw new Error('down from the start');
    });
    const text = await metrics.registry.metrics();
    expect(samples(text, 'herald_test_never')).toEqual([]);
    expect(samples(text, 'herald_metric_stale')).toEqual(['herald_metric_stale{metric="herald_test_never"} 1']);
  });

  it('a read that hangs times out; the next scrape waits on the same read instead of starting another', async () => {
    const metrics = new MetricsService();
    let calls = 0;
    let release!: (n: number) => void;
    metrics.gauge('herald_test_slow', 'test', () => {
      calls++;
      return new Promise<number>((resolve) => (release = resolve));
    });
    metrics.gauge('herald_test_fast', 'test', () => 7);

    const text = await metrics.registry.metrics();
    expect(samples(text, 'herald_test_fast')).toEqual(['herald_test_fast 7']);
    expect(samples(text, 'herald_test_slow')).toEqual([]);
    expect(samples(text, 'herald_metric_stale').sort()).toEqual([
      'herald_metric_stale{metric="herald_test_fast"} 0',
      'herald_metric_stale{metric="herald_test_slow"} 1',
    ]);

    const next = metrics.registry.metrics();
    release(5);
    const after = await next;
    expect(calls).toBe(1);
    expect(samples(after, 'herald_test_slow')).toEqual(['herald_test_slow 5']);
    expect(samples(after, 'herald_metric_stale')).toContain('herald_metric_stale{metric="herald_test_slow"} 0');
  });
});
