import { Logger } from '@nestjs/common';
import { nonOverlapping } from '../core/database/periodic';
import type { ChannelStore } from './channel.store';

const CURSOR_FLUSH_MS = 500;
const ATTACHMENT_REFRESH_MS = 20_000;

/**
 * What this node's channel attachments persist: each channel's cursor (the last seq a client
 * really received) and how many clients are attached here, refreshed as a heartbeat so a dead
 * node's rows age out.
 */
export class AttachmentBookkeeping {
  private readonly logger = new Logger('ChannelAttachments');
  private readonly dirtyCursors = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  /**
   * The two periodic writes never overlap themselves (see nonOverlapping): while a flush waits on
   * a lock, ticks are skipped rather than each taking another pool connection, so together they
   * hold at most two of the pool's connections however long the database stalls.
   */
  private readonly flushCursors = nonOverlapping(() => this.writeCursors());
  private readonly refreshAttachments = nonOverlapping(() => this.writeAttachmentCounts());

  constructor(
    private readonly store: ChannelStore,
    private readonly nodeId: string,
    /** Clients attached on this node, per channel. */
    private readonly counts: () => Map<string, number>,
  ) {}

  start(heartbeatMs: number): void {
    this.timers.push(setInterval(() => void this.flushCursors(), CURSOR_FLUSH_MS));
    this.timers.push(setInterval(() => void this.refreshAttachments(), Math.min(ATTACHMENT_REFRESH_MS, heartbeatMs)));
    for (const timer of this.timers) timer.unref();
  }

  /** A client of `channelId` received `seq`. */
  moved(channelId: string, seq: number): void {
    if (seq > (this.dirtyCursors.get(channelId) ?? 0)) this.dirtyCursors.set(channelId, seq);
  }

  /**
   * A client left: the cursor must be stored before the channel reads as disconnected, so a
   * reconnect counts from it.
   */
  async detached(channelId: string): Promise<void> {
    await this.flushCursors.fresh();
    await this.saveAttachmentCount(channelId);
  }

  /** Records the channel's count on this node now (a client attached). */
  async saveAttachmentCount(channelId: string): Promise<void> {
    await this.store
      .saveAttachmentsAcrossTenants(this.nodeId, new Map([[channelId, this.counts().get(channelId) ?? 0]]))
      .catch((err) => this.logger.warn({ err }, 'could not record channel attachment'));
  }

  /** At shutdown, once every client is closed: the last cursors, then this node's rows go. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    await this.flushCursors.fresh();
    // A heartbeat still in flight would write this node's rows back after they are dropped.
    await this.refreshAttachments.idle();
    await this.store.dropAttachments(this.nodeId).catch(() => undefined);
  }

  /**
   * Persists the cursors clients have moved since the last flush. Never rejects: a failed write
   * (a lost connection, a lock timeout) puts the cursors back to be retried on the next tick,
   * since it runs from a timer where a rejection would take the process down.
   */
  private async writeCursors(): Promise<void> {
    if (!this.dirtyCursors.size) return;
    const cursors = new Map(this.dirtyCursors);
    this.dirtyCursors.clear();
    try {
      await this.store.advanceCursorsAcrossTenants(cursors);
    } catch (err) {
      for (const [channelId, seq] of cursors) this.moved(channelId, seq);
      this.logger.warn({ err, channels: cursors.size }, 'cursor flush failed; retrying on the next tick');
    }
  }

  private async writeAttachmentCounts(): Promise<void> {
    const counts = this.counts();
    if (counts.size)
      await this.store
        .saveAttachmentsAcrossTenants(this.nodeId, counts)
        .catch((err) => this.logger.warn({ err }, 'attachment heartbeat failed'));
  }
}
