import { Injectable } from '@nestjs/common';
import { EventRouter, type DurableRouter, type LiveRouter } from '../core/bus/router-registry';
import type { Tx } from '../core/database/database.service';
import type { EventEnvelope } from '../core/event-log/envelope';
import type { StoredEvent } from '../core/event-log/event.types';
import { ChannelAttachments } from './channel-attachments.service';
import { channelMatches } from './channel-match';
import { ChannelStore } from './channel.store';

/**
 * event_count and last_event_at are kept by the durable path: exactly once per event, in
 * seq order, committed with the dispatcher's checkpoint, attached or not.
 */
@EventRouter('durable')
@Injectable()
export class ChannelCountsRouter implements DurableRouter {
  readonly name = 'realtime-channel-counts';

  constructor(private readonly store: ChannelStore) {}

  async route(events: StoredEvent[], tx: Tx): Promise<void> {
    const organisations = [...new Set(events.map((e) => e.organisation_id))];
    const channels = await this.store.openChannelsIn(tx, organisations);
    if (!channels.length) return;
    const counts = new Map<string, { count: number; lastSeq: number; lastAt: string }>();
    for (const event of events) {
      for (const channel of channels) {
        if (event.seq <= channel.created_seq || !channelMatches(channel, event)) continue;
        const c = counts.get(channel.channel_id) ?? { count: 0, lastSeq: 0, lastAt: '' };
        counts.set(channel.channel_id, { count: c.count + 1, lastSeq: event.seq, lastAt: event.occurred_at });
      }
    }
    await this.store.addCountsAcrossTenants(tx, counts);
  }
}

/** Clients attached to a channel on this node, over either transport. */
@EventRouter('live')
@Injectable()
export class ChannelAttachmentsRouter implements LiveRouter {
  readonly name = 'realtime-channels';

  constructor(private readonly attachments: ChannelAttachments) {}

  deliver(event: StoredEvent, envelope: EventEnvelope): void {
    this.attachments.onLive(event, envelope);
  }
}
