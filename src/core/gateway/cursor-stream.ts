import type { StoredEvent } from '../event-log/event.types';
import type { ReplayObserver, ReplayOutcome } from './gateway-metrics';

/** Replay reads the gap in batches of this many: one query per batch, never the whole gap in memory. */
export const REPLAY_BATCH = 500;
/** Measuring a Socket.IO client's queue walks its packets, so replay checks it every few events, not every one. */
export const REPLAY_CHECK_EVERY = 16;
/**
 * Live events one client may hold while its replay runs. Past this the held events are dropped
 * and read from the log instead (see CursorStream), so a replay waiting on a slow client does
 * not hold an unbounded share of the live stream in memory.
 */
export const MAX_BUFFERED_LIVE = 1000;

/**
 * What a client is told once, before any replayed event: where the replay starts, the first seq
 * it carries (null when there is nothing to replay), and whether it is whole. `complete: false`
 * means retention pruned part of the range after `resume_after`.
 */
export interface ReplayWelcome {
  resume_after: number;
  from_seq: number | null;
  complete: boolean;
}

/** Where a stream's events go: one client's connection. */
export interface CursorSink<T> {
  /** Called once, after the first batch is read and before any event is sent. */
  welcome(welcome: ReplayWelcome): void;
  /** Sends one event. Events come in strictly increasing seq order; the cursor moves to `event.seq` right after. */
  send(event: T): void;
  /** Whether the client's unsent bytes are over its limit. */
  backedUp(): boolean;
  /** Resolves once the client can take more again (or is gone). */
  drained(): Promise<void>;
}

export interface CursorStreamOptions<T extends { seq: number } = StoredEvent> {
  /** The last seq the client already has: the stream sends only events after it. */
  cursor: number;
  /**
   * The client's events after `after`, in seq order, at most `limit`: its filtered log read.
   * Every event `offer`ed to the stream must be one this read returns once committed.
   */
  read(after: number, limit: number): Promise<T[]>;
  /** The highest seq retention has removed (0 if none), for the welcome's `complete`. */
  prunedThrough(): Promise<number>;
  /** Runs one replay batch in a slot of the node's replay budget (ReplaySlots.batch). */
  slot<R>(work: () => Promise<R>): Promise<R>;
  sink: CursorSink<T>;
  /**
   * A read (or the sink) failed during a replay. The stream has stopped; the caller closes the
   * client so it reconnects and resumes from its last seq. Not called once the stream is closed.
   */
  onError(err: unknown): void;
  /** Told when each replay starts and how it ends (the node's replay counters). */
  replays?: ReplayObserver;
  /** Events per log read (default REPLAY_BATCH). */
  batchSize?: number;
  /** Check `backedUp()` every this many replayed events (default REPLAY_CHECK_EVERY). */
  checkEvery?: number;
  /** Live events held at most while replaying (default MAX_BUFFERED_LIVE). */
  maxBufferedLive?: number;
}

/** What `offer` did with a live event. */
export type OfferResult =
  /** Sent to the client now. */
  | 'sent'
  /** Kept for the hand-over (or left for the replay to read): a replay is running. */
  | 'held'
  /** Not newer than the cursor (already sent, or the replay will send it), or the stream is closed. */
  | 'skipped';

/** `short`: the batch reached the end of the log as of its read. */
type Step = 'short' | 'more' | 'backed-up' | 'closed';

/**
 * One client's ordered view of the log: replay from a cursor, then live, with no gap and no
 * duplicate at the seam.
 *
 * - A replay reads the log after the cursor in batches, one batch per replay slot, and sends
 *   each event. It sends only as fast as the client reads: every `checkEvery` events it checks
 *   `backedUp()`; a backed-up client gives its slot back, waits for `drained()` outside it, and
 *   the replay then reads again from the cursor (what was left of the batch is not kept).
 * - Live events `offer`ed while a replay runs are held, and sent when it ends, in seq order.
 * - Every send is deduplicated strictly by seq: an event is sent only if its seq is above the
 *   cursor, which then moves to it. So an event both read by the replay and offered live goes
 *   out once, and the hand-over is exact whichever side sees an event first.
 * - Bounded live buffer: when holding one more live event would exceed `maxBufferedLive`, the
 *   held events are dropped, and the replay must not end before a log read that started after
 *   that drop has come back short (fewer than `batchSize` events). Every offered event was
 *   committed before it was offered, so that read reaches past the newest dropped seq: nothing
 *   is lost, it is just read from the log instead of memory. Held events never exceed the bound.
 * - When no replay runs, `offer` sends an event newer than the cursor straight away. What to do
 *   with a client that is backed up then (close it, or send and give it a grace period) is the
 *   caller's policy: check `replaying` and the sink's `backedUp()` before offering.
 * - `catchUp()` re-reads from the cursor (e.g. the bus lost events); if a replay is already
 *   running it reads once more before handing over, as after a drop.
 * - `close()` stops everything: nothing is sent after it, a waiting replay ends.
 *
 * Wiring it to a channel attachment, for example:
 *
 *     const stream = new CursorStream({
 *       cursor: lastSeq ?? channel.cursor_seq,
 *       read: (after, limit) => log.readAfter(after, channelFilter(channel), limit),
 *       prunedThrough: () => log.prunedThrough(),
 *       slot: (work) => replaySlots.batch(work),
 *       sink: {
 *         welcome: (w) => connection.sendNotice({ type: 'welcome', channel_id, ...w }),
 *         send: (event) => { connection.sendEvent(toEnvelope(event)); markCursorDirty(event.seq); },
 *         backedUp: () => connection.backedUp(),
 *         drained: () => connection.drained(),
 *       },
 *       onError: () => connection.close('replay failed; reconnect to resume', 1011),
 *     });
 *     void stream.start();
 *     // each live event: if (!stream.replaying && connection.backedUp()) apply the slow-client
 *     // policy (and skip the offer if that closed it); then stream.offer(event)
 *     // bus catch-up: void stream.catchUp();   detach: stream.close()
 */
export class CursorStream<T extends { seq: number } = StoredEvent> {
  private position: number;
  /** Set from the start, so live events offered before start() are held for the first replay. */
  private running = true;
  private started = false;
  private stopped = false;
  private welcomed = false;
  private buffer: T[] = [];
  /** Bumped by a drop or a catch-up during a replay: a read started before it may have missed something. */
  private demand = 0;
  /** `demand` when the latest read started. */
  private demandAtRead = 0;
  private droppedCount = 0;
  private current?: Promise<void>;
  private readonly closing: Promise<void>;
  private signalClosed!: () => void;
  private readonly batchSize: number;
  private readonly checkEvery: number;
  private readonly maxBufferedLive: number;

  constructor(private readonly options: CursorStreamOptions<T>) {
    this.position = options.cursor;
    this.batchSize = options.batchSize ?? REPLAY_BATCH;
    this.checkEvery = options.checkEvery ?? REPLAY_CHECK_EVERY;
    this.maxBufferedLive = options.maxBufferedLive ?? MAX_BUFFERED_LIVE;
    this.closing = new Promise((resolve) => (this.signalClosed = resolve));
  }

  /** The last seq sent (or the starting cursor). */
  get cursor(): number {
    return this.position;
  }

  /** True from construction until the first replay hands over, and during every later replay. */
  get replaying(): boolean {
    return this.running && !this.stopped;
  }

  get closed(): boolean {
    return this.stopped;
  }

  /** Live events held right now (never more than `maxBufferedLive`). */
  get held(): number {
    return this.buffer.length;
  }

  /** Live events dropped from the buffer so far (each was then read from the log). */
  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * Starts the first replay, which sends the welcome. Resolves when it has handed over to live,
   * or stopped (closed, or failed: see onError); never rejects.
   */
  start(): Promise<void> {
    if (this.started) return this.current ?? Promise.resolve();
    this.started = true;
    return this.replay();
  }

  /** A live event matching this client. See the class comment for what happens to it. */
  offer(event: T): OfferResult {
    if (this.stopped || event.seq <= this.position) return 'skipped';
    if (!this.running) {
      this.deliver(event);
      return 'sent';
    }
    if (this.buffer.length >= this.maxBufferedLive) {
      this.droppedCount += this.buffer.length + 1;
      this.buffer = [];
      this.demand++;
    } else {
      this.buffer.push(event);
    }
    return 'held';
  }

  /** Reads the log again from the cursor; resolves like `start`. */
  catchUp(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (!this.started) return this.start();
    if (this.running) {
      this.demand++;
      return this.current ?? Promise.resolve();
    }
    return this.replay();
  }

  /** Stops the stream: nothing is sent after this, and a running replay ends. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.buffer = [];
    this.signalClosed();
  }

  private replay(): Promise<void> {
    this.running = true;
    this.current = this.run().finally(() => (this.current = undefined));
    return this.current;
  }

  private async run(): Promise<void> {
    const resumeAfter = this.position;
    this.options.replays?.replayStarted();
    let outcome: ReplayOutcome = 'closed';
    try {
      for (;;) {
        // One batch per replay slot, so many replays cannot starve the node.
        const step = await this.options.slot(() => this.batch(resumeAfter));
        if (step === 'closed' || this.stopped) return;
        // A short batch ends the replay only if no live event was dropped (and no catch-up asked)
        // since its read started: otherwise that read may have stopped short of them. Checked
        // here, after the slot, because a drop can also happen while the slot is handed back.
        if (step === 'short' && this.demandAtRead === this.demand) break;
        // Waiting for a slow client happens outside the slot, so it holds back no other replay.
        if (step === 'backed-up' || this.options.sink.backedUp())
          await Promise.race([this.options.sink.drained(), this.closing]);
      }
      // Everything from here on is synchronous: no live event can slip in between.
      this.running = false;
      const held = this.buffer.sort((a, b) => a.seq - b.seq);
      this.buffer = [];
      for (const event of held) this.deliver(event);
      outcome = 'live';
    } catch (err) {
      if (this.stopped) return;
      outcome = 'failed';
      this.close();
      this.options.onError(err);
    } finally {
      this.options.replays?.replayFinished(outcome);
    }
  }

  private async batch(resumeAfter: number): Promise<Step> {
    if (this.stopped) return 'closed';
    this.demandAtRead = this.demand;
    const batch = await this.options.read(this.position, this.batchSize);
    if (!this.welcomed) {
      // Read after the first batch: a prune that raced with that read is then reported too.
      const prunedThrough = await this.options.prunedThrough();
      if (this.stopped) return 'closed';
      this.welcomed = true;
      this.options.sink.welcome({
        resume_after: resumeAfter,
        from_seq: batch[0]?.seq ?? null,
        complete: resumeAfter >= prunedThrough,
      });
    }
    for (let i = 0; i < batch.length; i++) {
      if (this.stopped) return 'closed';
      // At most the client's limit (plus a few events, as it is measured every `checkEvery`) is queued.
      if (i % this.checkEvery === 0 && this.options.sink.backedUp()) return 'backed-up';
      this.deliver(batch[i]);
    }
    return batch.length < this.batchSize ? 'short' : 'more';
  }

  private deliver(event: T): void {
    if (this.stopped || event.seq <= this.position) return;
    this.options.sink.send(event);
    this.position = event.seq;
  }
}
