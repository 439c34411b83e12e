import { FifoSemaphore } from './replay-slots';

describe('FifoSemaphore', () => {
  it('lets at most `limit` holders in and hands places out in the order they were asked for', async () => {
    const slots = new FifoSemaphore(2);
    const order: number[] = [];
    const holders = [0, 1, 2, 3, 4].map((i) => slots.acquire().then(() => order.push(i)));
    await Promise.resolve();
    await Promise.resolve();
    expect(order).toEqual([0, 1]);
    expect(slots.running).toBe(2);
    expect(slots.queued).toBe(3);
    slots.release();
    await Promise.resolve();
    expect(order).toEqual([0, 1, 2]);
    slots.release();
    slots.release();
    await Promise.all(holders);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(slots.running).toBe(2);
    slots.release();
    slots.release();
    expect(slots.running).toBe(0);
    expect(slots.queued).toBe(0);
  });

  it('never counts below zero on a stray release', () => {
    const slots = new FifoSemaphore(1);
    slots.release();
    expect(slots.running).toBe(0);
  });
});
