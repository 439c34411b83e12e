import { ForbiddenException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { listableUser, receivesEvents, seesWholeOrganisation, type Principal } from '../core/auth/principal';
import { EventBus } from '../core/bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../core/config';
import { EventLog } from '../core/event-log/event-log.service';
import { newId } from '../core/http/ids';
import { pageOf, pageOffset, type Page } from '../core/http/pagination';
import { isoNow } from '../core/http/time';
import { channelFilter } from './channel-match';
import { ChannelStore, type ChannelRecord } from './channel.store';
import type {
  ChannelDetailDto,
  ChannelSummaryDto,
  ClosedChannelDto,
  CreatedOrganisationChannelDto,
  CreatedUserChannelDto,
  CreateOrganisationChannelDto,
  CreateUserChannelDto,
  ListChannelsQueryDto,
  ReconnectResultDto,
} from './dto/channel.dto';

export class ChannelNotFoundException extends NotFoundException {
  constructor(id: string) {
    super(`Channel ${id} not found`);
  }
}

/** Bus topics the attachments on every node listen to. */
export const CHANNEL_CLOSED_TOPIC = 'channels.closed';
export const CHANNEL_CATCH_UP_TOPIC = 'channels.catch-up';

/** Who may see (and attach to) a channel: its organisation's apps and org-wide readers, or its own user. */
export function canAccessChannel(
  principal: Principal,
  channel: Pick<ChannelRecord, 'organisation_id' | 'user_id'>,
): boolean {
  if (principal.organisation_id !== channel.organisation_id) return false;
  return seesWholeOrganisation(principal) || (principal.user_id !== undefined && principal.user_id === channel.user_id);
}

/**
 * Whether a credential may receive a channel's events, decided at every attach, not when the
 * channel was made: it needs `events:read`, and an organisation channel streams every user's
 * events, so it needs an org-wide reader whoever created it. `null` when it may; otherwise why not.
 */
export function attachRefusal(
  principal: Principal,
  channel: Pick<ChannelRecord, 'subscription_type' | 'channel_id'>,
): string | null {
  if (!receivesEvents(principal)) return 'Missing scope: events:read';
  if (channel.subscription_type === 'organisation_claims' && !seesWholeOrganisation(principal)) {
    return `Channel ${channel.channel_id} streams the whole organisation; attaching needs an app credential or claims:read:org`;
  }
  return null;
}

@Injectable()
export class ChannelsService {
  constructor(
    private readonly store: ChannelStore,
    private readonly log: EventLog,
    private readonly bus: EventBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  websocketUrl(channelId: string): string {
    return `${this.config.publicWsUrl}/channels/${channelId}`;
  }

  async createForOrganisation(
    caller: Principal,
    dto: CreateOrganisationChannelDto,
  ): Promise<CreatedOrganisationChannelDto> {
    if (dto.organisation_id !== caller.organisation_id) {
      throw new ForbiddenException('A credential may only create channels for its own organisation');
    }
    if (!seesWholeOrganisation(caller)) {
      throw new ForbiddenException('Organisation channels need an app credential or the claims:read:org scope');
    }
    if (caller.kind === 'user' && dto.user_id && dto.user_id !== caller.user_id) {
      throw new ForbiddenException('A user credential may only own its own channels');
    }
    const channel = await this.create(
      caller,
      'organisation_claims',
      dto.user_id ?? caller.user_id ?? null,
      dto.event_types ?? [],
    );
    return {
      channel_id: channel.channel_id,
      subscription_type: channel.subscription_type,
      organisation_id: channel.organisation_id,
      user_id: channel.user_id,
      websocket_url: this.websocketUrl(channel.channel_id),
      status: 'connected',
      created_at: channel.created_at,
    };
  }

  async createForUser(caller: Principal, dto: CreateUserChannelDto): Promise<CreatedUserChannelDto> {
    if (caller.kind === 'user' && dto.user_id !== caller.user_id && !seesWholeOrganisation(caller)) {
      throw new ForbiddenException('A user credential may only subscribe to its own claims');
    }
    const channel = await this.create(caller, 'user_claims', dto.user_id, dto.event_types ?? []);
    return {
      channel_id: channel.channel_id,
      subscription_type: channel.subscription_type,
      user_id: dto.user_id,
      websocket_url: this.websocketUrl(channel.channel_id),
      status: 'connected',
      created_at: channel.created_at,
    };
  }

  private async create(
    caller: Principal,
    type: ChannelRecord['subscription_type'],
    userId: string | null,
    eventTypes: string[],
  ) {
    const channel = {
      channel_id: newId('chan'),
      subscription_type: type,
      organisation_id: caller.organisation_id,
      user_id: userId,
      event_types: eventTypes,
      // Only events after this point count and can be missed.
      created_seq: await this.log.head(),
      created_at: isoNow(),
      created_by: caller.key_id ?? caller.user_id,
    };
    await this.store.insert(channel);
    return channel;
  }

  async list(caller: Principal, query: ListChannelsQueryDto): Promise<Page<ChannelSummaryDto>> {
    if (query.organisation_id !== undefined && query.organisation_id !== caller.organisation_id)
      return pageOf([], query, 0);
    const userId = listableUser(caller, query.user_id);
    if (userId === null) return pageOf([], query, 0);
    const { rows, total } = await this.store.list(
      caller.organisation_id,
      { user_id: userId, status: query.status, subscription_type: query.subscription_type },
      pageOffset(query),
      query.limit,
    );
    return pageOf(rows.map(toSummary), query, total);
  }

  async get(caller: Principal, channelId: string): Promise<ChannelDetailDto> {
    const channel = await this.visible(caller, channelId);
    return {
      ...toSummary(channel),
      event_count: channel.event_count,
      websocket_url: this.websocketUrl(channel.channel_id),
    };
  }

  async reconnect(caller: Principal, channelId: string): Promise<ReconnectResultDto> {
    const channel = await this.visible(caller, channelId);
    const head = await this.log.head();
    const [missed, prunedThrough] = await Promise.all([
      this.log.countAfter(channel.cursor_seq, channelFilter(channel), head),
      this.log.prunedThrough(),
    ]);
    const reconnectedAt = isoNow();
    await this.store.markReconnected(caller.organisation_id, channelId, reconnectedAt);
    // Clients attached right now catch up too; the next one to attach starts from the cursor.
    this.bus.publish(CHANNEL_CATCH_UP_TOPIC, { channel_id: channelId });
    return {
      channel_id: channelId,
      // A reconnect makes the channel connected again until a client attaches and drops (the realtime channels contract).
      status: 'connected',
      reconnected_at: reconnectedAt,
      missed_events: missed.count,
      from_seq: missed.first ?? null,
      to_seq: missed.last ?? null,
      complete: channel.cursor_seq >= prunedThrough,
    };
  }

  async close(caller: Principal, channelId: string): Promise<ClosedChannelDto> {
    await this.visible(caller, channelId);
    const closedAt = isoNow();
    await this.store.close(caller.organisation_id, channelId, closedAt);
    this.bus.publish(CHANNEL_CLOSED_TOPIC, { channel_id: channelId, reason: 'channel unsubscribed' });
    return { channel_id: channelId, unsubscribed: true, closed_at: closedAt };
  }

  private async visible(caller: Principal, channelId: string): Promise<ChannelRecord> {
    const channel = await this.store.find(caller.organisation_id, channelId);
    if (!channel || !canAccessChannel(caller, channel)) throw new ChannelNotFoundException(channelId);
    return channel;
  }
}

function toSummary(channel: ChannelRecord): ChannelSummaryDto {
  return {
    channel_id: channel.channel_id,
    subscription_type: channel.subscription_type,
    organisation_id: channel.organisation_id,
    user_id: channel.user_id,
    status: channel.connected ? 'connected' : 'disconnected',
    created_at: channel.created_at,
    last_event_at: channel.last_event_at,
  };
}
