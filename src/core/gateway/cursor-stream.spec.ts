import { CursorStream, type CursorStreamOptions, type ReplayWelcome } from './cursor-stream';

interface Ev {
  seq: number;
}

const settle = async (turns = 5) => {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
};

/** A held read: `reached` resolves once the read is waiting; `release` lets it answer. */
interface HeldRead {
  reached: Promise<void>;
  release(): void;
}

/**
 * The client's log. A held read either sees the log as it is when released (`'late'`: it ran
 * after the live events arrived) or as it was when called (`'early'`: it ran before them and
 * only its answer was slow).
 */
class FakeLog {
  readonly events: Ev[] = [];
  readonly reads: number[] = [];
  private readonly holds = new Map<number, { mode: 'late' | 'early'; reached: () => void; opened: Promise<void> }>();
  failWith?: Error;

  constructor(count = 0) {
    this.append(count);
  }

  append(count: number): Ev[] {
    const added: Ev[] = [];
    for (let i = 0; i < count; i++) {
      const event = { seq: this.events.length + 1 };
      this.events.push(event);
      added.push(event);
    }
    return added;
  }

  /** Holds the read with this index (0 = the first read ever made). */
  holdRead(index: number, mode: 'late' | 'early' = 'late'): HeldRead {
    let reached!: () => void;
    let release!: () => void;
    const hold = {
      mode,
      reached: () => reached(),
      opened: new Promise<void>((r) => (release = r)),
    };
    const reachedPromise = new Promise<void>((r) => (reached = r));
    this.holds.set(index, hold);
    return { reached: reachedPromise, release };
  }

  read = async (after: number, limit: number): Promise<Ev[]> => {
    const hold = this.holds.get(this.reads.length);
    this.reads.push(after);
    const answer = () => this.events.filter((e) => e.seq > after).slice(0, limit);
    const early = answer();
    if (hold) {
      hold.reached();
      await hold.opened;
    }
    if (this.failWith) throw this.failWith;
    return hold?.mode === 'early' ? early : answer();
  };
}

/** Replay slots that count who holds one. */
class FakeSlots {
  active = 0;
  maxActive = 0;
  used = 0;
  /** Runs after each batch's work, before its slot is handed back. */
  afterWork?: () => void;

  slot = async <R>(work: () => Promise<R>): Promise<R> => {
    await Promise.resolve();
    this.active++;
    this.used++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      return await work();
    } finally {
      this.afterWork?.();
      this.active--;
    }
  };
}

/** A client connection: what it was sent, and a queue that backs up when the test says so. */
class FakeSink {
  readonly sent: number[] = [];
  readonly welcomes: ReplayWelcome[] = [];
  /** Everything in order, the welcome as 'welcome'. */
  readonly timeline: (number | 'welcome')[] = [];
  backed: (sent: number) => boolean = () => false;
  waits = 0;
  slotsHeldWhileWaiting: number[] = [];
  private release?: () => void;

  constructor(private readonly slots: FakeSlots) {}

  welcome = (welcome: ReplayWelcome) => {
    this.welcomes.push(welcome);
    this.timeline.push('welcome');
  };
  send = (event: Ev) => {
    this.sent.push(event.seq);
    this.timeline.push(event.seq);
  };
  backedUp = () => this.backed(this.sent.length);
  drained = () => {
    this.waits++;
    this.slotsHeldWhileWaiting.push(this.slots.active);
    return new Promise<void>((r) => (this.release = r));
  };
  get waiting(): boolean {
    return this.release !== undefined;
  }
  /** The client read its queue. */
  drain(): void {
    this.backed = () => false;
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}

function setup(options: Partial<CursorStreamOptions<Ev>> & { events?: number; pruned?: number } = {}): {
  log: FakeLog;
  slots: FakeSlots;
  sink: FakeSink;
  errors: unknown[];
  stream: CursorStream<Ev>;
} {
  const log = new FakeLog(options.events ?? 0);
  const slots = new FakeSlots();
  const sink = new FakeSink(slots);
  const errors: unknown[] = [];
  const stream = new CursorStream<Ev>({
    cursor: 0,
    read: log.read,
    prunedThrough: async () => options.pruned ?? 0,
    slot: slots.slot,
    sink,
    onError: (err) => errors.push(err),
    ...options,
  });
  return { log, slots, sink, errors, stream };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('CursorStream', () => {
  it('replays from the cursor, welcomes first, then sends live events straight away', async () => {
    const { log, sink, stream, slots } = setup({ events: 5, cursor: 2 });
    await stream.start();
    expect(sink.timeline).toEqual(['welcome', 3, 4, 5]);
    expect(sink.welcomes).toEqual([{ resume_after: 2, from_seq: 3, complete: true }]);
    expect(stream.replaying).toBe(false);
    expect(stream.cursor).toBe(5);
    expect(slots.used).toBe(1);

    const [live] = log.append(1);
    expect(stream.offer(live)).toBe('sent');
    expect(stream.offer(live)).toBe('skipped');
    expect(stream.offer({ seq: 4 })).toBe('skipped');
    expect(sink.sent).toEqual([3, 4, 5, 6]);
  });

  it('replays in batches, one slot per batch, never two at once', async () => {
    const { log, sink, stream, slots } = setup({ events: 1234 });
    await stream.start();
    expect(sink.sent).toEqual(range(1, 1234));
    expect(log.reads).toEqual([0, 500, 1000]);
    expect(slots.used).toBe(3);
    expect(slots.maxActive).toBe(1);
    expect(slots.active).toBe(0);
  });

  it('a batch that fills exactly reads once more to find the end', async () => {
    const { log, sink, stream } = setup({ events: 8, batchSize: 4 });
    await stream.start();
    expect(sink.sent).toEqual(range(1, 8));
    expect(log.reads).toEqual([0, 4, 8]);
  });

  it('live events offered before start are held for the first replay', async () => {
    const { log, sink, stream } = setup({ events: 3 });
    const [live] = log.append(1);
    expect(stream.replaying).toBe(true);
    expect(stream.offer(live)).toBe('held');
    await stream.start();
    expect(sink.timeline).toEqual(['welcome', 1, 2, 3, 4]);
  });

  describe('live events arriving mid-replay', () => {
    it('events the held read will also return go out once (no duplicate)', async () => {
      const { log, sink, stream } = setup({ events: 10, batchSize: 4 });
      const held = log.holdRead(0); // the first read, before anything is sent
      const done = stream.start();
      await held.reached;
      for (const live of log.append(5)) expect(stream.offer(live)).toBe('held');
      expect(stream.held).toBe(5);
      held.release();
      await done;
      expect(sink.timeline).toEqual(['welcome', ...range(1, 15)]);
      expect(stream.held).toBe(0);
    });

    it('events the held read cannot see fill the seam from the buffer (no gap), in seq order', async () => {
      // The held read is the replay's last: it answers short, from before the live events.
      const { log, sink, stream } = setup({ events: 6, batchSize: 4 });
      const held = log.holdRead(1, 'early');
      const done = stream.start();
      await held.reached;
      expect(sink.sent).toEqual(range(1, 4));
      const live = log.append(5);
      // Out of order on purpose: the hand-over sorts by seq.
      for (const e of [live[2], live[0], live[1], live[4], live[3]]) expect(stream.offer(e)).toBe('held');
      held.release();
      await done;
      expect(sink.timeline).toEqual(['welcome', ...range(1, 11)]);
      expect(log.reads).toEqual([0, 4]);
      expect(stream.offer({ seq: 9 })).toBe('skipped');
      const [next] = log.append(1);
      expect(stream.offer(next)).toBe('sent');
      expect(sink.sent).toEqual(range(1, 12));
    });

    it('a mix of both: some live events are read by the replay, later ones only offered', async () => {
      const { log, sink, stream } = setup({ events: 6, batchSize: 4 });
      const done = stream.start();
      const held = log.holdRead(1, 'late');
      await held.reached;
      const seen = log.append(4); // committed before the read runs: both read and offered
      for (const e of seen) stream.offer(e);
      held.release();
      // The remaining reads see everything; offer more while the replay still runs.
      const later = log.append(3);
      for (const e of later) stream.offer(e);
      await done;
      expect(sink.sent).toEqual(range(1, 13));
    });
  });

  describe('bounded live buffer', () => {
    it('holds at most maxBufferedLive, drops past it and reads the dropped events from the log instead', async () => {
      // The held read is the replay's last: it answers short, from before the live events.
      const { log, sink, stream } = setup({ events: 6, batchSize: 4, maxBufferedLive: 3 });
      const held = log.holdRead(1, 'early');
      const done = stream.start();
      await held.reached;
      let mostHeld = 0;
      for (const e of log.append(20)) {
        expect(stream.offer(e)).toBe('held');
        mostHeld = Math.max(mostHeld, stream.held);
        expect(stream.held).toBeLessThanOrEqual(3);
      }
      expect(mostHeld).toBe(3);
      expect(stream.dropped).toBeGreaterThan(0);
      held.release();
      await done;
      expect(sink.timeline).toEqual(['welcome', ...range(1, 26)]);
      // The short answer did not end the replay: it read on, past the dropped events.
      expect(log.reads).toEqual([0, 4, 6, 10, 14, 18, 22, 26]);
    });

    it('a drop while the final short batch hands its slot back still ends with nothing missing', async () => {
      const { log, sink, stream, slots } = setup({ events: 2, batchSize: 4, maxBufferedLive: 2 });
      let fired = false;
      slots.afterWork = () => {
        if (fired) return;
        fired = true;
        // The read came back short; before the replay ends, live events overflow the buffer.
        for (const e of log.append(5)) stream.offer(e);
        expect(stream.held).toBeLessThanOrEqual(2);
      };
      await stream.start();
      expect(stream.dropped).toBeGreaterThan(0);
      expect(sink.sent).toEqual(range(1, 7));
    });

    it('a steady overflow while reads are slow never holds more than the bound', async () => {
      const { log, sink, stream } = setup({ events: 50, batchSize: 5, maxBufferedLive: 4 });
      const holds = range(0, 7).map((i) => log.holdRead(i, 'early'));
      const done = stream.start();
      let mostHeld = 0;
      for (const held of holds) {
        await held.reached;
        for (const e of log.append(7)) {
          stream.offer(e);
          mostHeld = Math.max(mostHeld, stream.held);
        }
        held.release();
      }
      await done;
      expect(mostHeld).toBeLessThanOrEqual(4);
      expect(sink.sent).toEqual(range(1, 50 + 8 * 7));
    });
  });

  describe('a slow client', () => {
    it('is sent to only as fast as it drains, and its slot is given back while it waits', async () => {
      const { log, sink, stream, slots } = setup({ events: 100, batchSize: 50, checkEvery: 16 });
      sink.backed = (sent) => sent >= 20;
      const done = stream.start();
      await settle();
      // Checked at 0, 16, 32: backed up from 20, so it stops at 32 sent.
      expect(sink.waiting).toBe(true);
      expect(sink.sent).toEqual(range(1, 32));
      expect(sink.slotsHeldWhileWaiting).toEqual([0]);
      expect(slots.active).toBe(0);

      // Live events keep arriving while it waits.
      const live = log.append(3);
      for (const e of live) expect(stream.offer(e)).toBe('held');

      sink.drain();
      await done;
      expect(sink.sent).toEqual(range(1, 103));
      // The rest of the first batch was read again from the cursor rather than kept.
      expect(log.reads).toEqual([0, 32, 82]);
    });

    it('waits for drained() after a full batch if the client is backed up', async () => {
      const { sink, stream } = setup({ events: 6, batchSize: 3, checkEvery: 16 });
      sink.backed = (sent) => sent === 3;
      const done = stream.start();
      await settle();
      expect(sink.waiting).toBe(true);
      expect(sink.sent).toEqual([1, 2, 3]);
      sink.drain();
      await done;
      expect(sink.sent).toEqual(range(1, 6));
    });
  });

  describe('close', () => {
    it('during a held read: nothing is sent, not even the welcome, and offers are skipped', async () => {
      const { log, sink, stream, errors } = setup({ events: 10 });
      const held = log.holdRead(0);
      const done = stream.start();
      await held.reached;
      stream.offer(log.append(1)[0]);
      stream.close();
      expect(stream.offer(log.append(1)[0])).toBe('skipped');
      held.release();
      await done;
      expect(sink.timeline).toEqual([]);
      expect(errors).toEqual([]);
      expect(stream.held).toBe(0);
    });

    it('between batches: the replay stops where it was', async () => {
      const { log, sink, stream } = setup({ events: 10, batchSize: 4 });
      const done = stream.start();
      const held = log.holdRead(1);
      await held.reached;
      stream.close();
      held.release();
      await done;
      expect(sink.sent).toEqual(range(1, 4));
      await stream.catchUp();
      expect(sink.sent).toEqual(range(1, 4));
    });

    it('while waiting for a slow client: the replay ends without waiting for drained()', async () => {
      const { sink, stream } = setup({ events: 40, batchSize: 50 });
      sink.backed = (sent) => sent >= 1;
      const done = stream.start();
      await settle();
      expect(sink.waiting).toBe(true);
      stream.close();
      await done;
      expect(sink.sent).toEqual(range(1, 16));
    });

    it('after hand-over: live events are skipped', async () => {
      const { log, sink, stream } = setup({ events: 1 });
      await stream.start();
      stream.close();
      expect(stream.offer(log.append(1)[0])).toBe('skipped');
      expect(sink.sent).toEqual([1]);
    });
  });

  describe('catchUp', () => {
    it('after hand-over, reads what the live stream missed; welcomes only once', async () => {
      const { log, sink, stream } = setup({ events: 3 });
      await stream.start();
      log.append(4); // never offered: the bus lost them
      const [live] = log.append(1);
      await stream.catchUp();
      expect(stream.offer(live)).toBe('skipped');
      expect(sink.timeline).toEqual(['welcome', ...range(1, 8)]);
      expect(sink.welcomes).toHaveLength(1);
    });

    it('during a replay, makes it read once more before handing over', async () => {
      const { log, sink, stream } = setup({ events: 3, batchSize: 10 });
      const held = log.holdRead(0, 'early');
      const done = stream.start();
      await held.reached;
      log.append(2); // missed by the bus and by the held read
      const caughtUp = stream.catchUp();
      held.release();
      await Promise.all([done, caughtUp]);
      expect(sink.sent).toEqual(range(1, 5));
      expect(log.reads).toEqual([0, 3]);
    });

    it('before start, starts', async () => {
      const { sink, stream } = setup({ events: 2 });
      await stream.catchUp();
      expect(sink.timeline).toEqual(['welcome', 1, 2]);
    });
  });

  describe('welcome', () => {
    it('complete: false when retention pruned part of the range after the cursor', async () => {
      const { sink, stream } = setup({ events: 10, cursor: 3, pruned: 5 });
      await stream.start();
      expect(sink.welcomes).toEqual([{ resume_after: 3, from_seq: 4, complete: false }]);
    });

    it('complete: true when the cursor is at or past the pruned seq', async () => {
      const { sink, stream } = setup({ events: 10, cursor: 5, pruned: 5 });
      await stream.start();
      expect(sink.welcomes).toEqual([{ resume_after: 5, from_seq: 6, complete: true }]);
    });

    it('from_seq: null when there is nothing to replay', async () => {
      const { sink, stream } = setup({ events: 4, cursor: 4 });
      await stream.start();
      expect(sink.timeline).toEqual(['welcome']);
      expect(sink.welcomes).toEqual([{ resume_after: 4, from_seq: null, complete: true }]);
    });
  });

  describe('errors', () => {
    it('a failed read is reported once and stops the stream', async () => {
      const { log, sink, stream, errors } = setup({ events: 10, batchSize: 4 });
      const done = stream.start();
      const held = log.holdRead(1);
      await held.reached;
      log.failWith = new Error('database gone');
      held.release();
      await done;
      expect(errors).toEqual([log.failWith]);
      expect(stream.closed).toBe(true);
      expect(sink.sent).toEqual(range(1, 4));
      expect(stream.offer(log.append(1)[0])).toBe('skipped');
    });

    it('a read that fails after close is not reported', async () => {
      const { log, stream, errors } = setup({ events: 10 });
      const held = log.holdRead(0);
      const done = stream.start();
      await held.reached;
      stream.close();
      log.failWith = new Error('late');
      held.release();
      await done;
      expect(errors).toEqual([]);
    });

    it('a failed prunedThrough is reported like a failed read', async () => {
      const { sink, stream, errors } = setup({
        events: 2,
        prunedThrough: () => Promise.reject(new Error('no')),
      });
      await stream.start();
      expect(errors).toHaveLength(1);
      expect(sink.timeline).toEqual([]);
    });
  });

  it('tells its observer when each replay starts and how it ends', async () => {
    const told: string[] = [];
    const replays = {
      replayStarted: () => told.push('started'),
      replayFinished: (outcome: string) => told.push(outcome),
    };
    // Handed over to live, then a catch-up re-read, also handed over.
    const { log, stream } = setup({ events: 3, replays });
    await stream.start();
    log.append(2);
    await stream.catchUp();
    expect(told).toEqual(['started', 'live', 'started', 'live']);

    // The client left mid-replay.
    told.length = 0;
    const left = setup({ events: 10, replays });
    const held = left.log.holdRead(0);
    const done = left.stream.start();
    await held.reached;
    left.stream.close();
    held.release();
    await done;
    expect(told).toEqual(['started', 'closed']);

    // Reading the log failed.
    told.length = 0;
    const failing = setup({ events: 2, replays });
    failing.log.failWith = new Error('database gone');
    await failing.stream.start();
    expect(told).toEqual(['started', 'failed']);
    expect(failing.errors).toEqual([failing.log.failWith]);
  });
});
