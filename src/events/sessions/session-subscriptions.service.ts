import { BadRequestException, ForbiddenException, Injectable } from '@nestjs/common';
import { hasScope, seesWholeOrganisation, type Principal } from '../../core/auth/principal';
import { EventCatalog, type EventTypeDefinition } from '../../core/event-log/event-catalog';
import { RealtimeService, type RemoteSession } from '../../core/gateway/realtime.service';
import { ValidationFailedException } from '../../core/http/errors';
import { isSocketSessionId, parseSessionRoom, sessionRoom, type SessionSubscription } from './session-rooms';
import type { SessionSubscriptionDto, SessionSubscriptionItemDto } from './session-subscription.dto';

/** Seed 004's 400 for a session that does not exist, is another organisation's, or is no session id at all. */
export class UnknownSessionException extends BadRequestException {
  constructor(sessionId: string) {
    // Echoed so a client can see what it sent, but not at any length: a path parameter is unbounded.
    super(`Unknown session ${sessionId.length > 64 ? `${sessionId.slice(0, 64)}…` : sessionId}`);
  }
}

/**
 * Seed 004: a Socket.IO session joins the room of (type, version, condition) wherever in the
 * cluster its socket lives; matching events are emitted to that room under their type.
 */
@Injectable()
export class SessionSubscriptionsService {
  constructor(
    private readonly catalog: EventCatalog,
    private readonly realtime: RealtimeService,
  ) {}

  async subscribe(caller: Principal, dto: SessionSubscriptionDto): Promise<void> {
    const { subscription, session } = await this.authorise(caller, dto);
    await this.realtime.joinRoom(session.id, sessionRoom(session.principal.organisation_id, subscription));
  }

  async unsubscribe(caller: Principal, dto: SessionSubscriptionDto): Promise<void> {
    const { subscription, session } = await this.authorise(caller, dto);
    await this.realtime.leaveRoom(session.id, sessionRoom(session.principal.organisation_id, subscription));
  }

  async list(caller: Principal, sessionId: string): Promise<SessionSubscriptionItemDto[]> {
    const session = await this.ownedSession(caller, sessionId);
    return session.rooms.map(parseSessionRoom).filter((s): s is SessionSubscription => Boolean(s));
  }

  /** Seed 004's order: unsupported type/version and bad conditions are 400, then who may do it (403), then the session. */
  private async authorise(
    caller: Principal,
    dto: SessionSubscriptionDto,
  ): Promise<{ subscription: SessionSubscription; session: RemoteSession }> {
    const definition = this.catalog.get(dto.type);
    if (!definition) {
      throw new ValidationFailedException(
        [{ field: 'type', message: `unsupported type ${dto.type}; supported: ${this.catalog.types().join(', ')}` }],
        `Unsupported subscription type ${dto.type}`,
      );
    }
    const version = dto.version ?? '1';
    if (!definition.versions.includes(version)) {
      throw new ValidationFailedException(
        [{ field: 'version', message: `version must be one of ${definition.versions.join(', ')}` }],
        `Unsupported version ${version} of ${dto.type}`,
      );
    }
    const condition = this.validateCondition(definition, dto.condition);
    if (!definition.token_kinds.includes(caller.kind)) {
      throw new ForbiddenException(`${dto.type} requires a ${definition.token_kinds.join(' or ')} access token`);
    }
    if (!hasScope(caller, definition.scope)) throw new ForbiddenException(`Missing scope: ${definition.scope}`);
    // A room without a condition carries the whole organisation's events of that type.
    if (!definition.conditions.length && !seesWholeOrganisation(caller)) {
      throw new ForbiddenException(
        `${dto.type} streams the whole organisation; it needs an app token or claims:read:org`,
      );
    }
    const session = await this.ownedSession(caller, dto.sessionId);
    // The room's events reach the session's socket, so the socket's own credential must hold
    // what the caller's must: an app may not put them in front of a socket that may not read them.
    if (!hasScope(session.principal, definition.scope)) {
      throw new ForbiddenException(`Session ${dto.sessionId} was opened with a credential without ${definition.scope}`);
    }
    if (!definition.conditions.length && !seesWholeOrganisation(session.principal)) {
      throw new ForbiddenException(
        `Session ${dto.sessionId} was opened with a credential that may not read the whole organisation`,
      );
    }
    return { subscription: { type: dto.type, version, condition }, session };
  }

  private validateCondition(definition: EventTypeDefinition, raw: Record<string, unknown>): Record<string, string> {
    const errors: { field: string; message: string }[] = [];
    const condition: Record<string, string> = {};
    for (const field of definition.conditions) {
      const value = raw[field];
      if (typeof value !== 'string' || !value.trim() || value.length > 128) {
        errors.push({
          field: `condition.${field}`,
          message: `condition.${field} is required for ${definition.type}: a string of 1-128 characters`,
        });
      } else {
        condition[field] = value;
      }
    }
    for (const field of Object.keys(raw)) {
      if (!definition.conditions.includes(field))
        errors.push({
          field: `condition.${field}`,
          message: `condition.${field} is not a condition of ${definition.type}`,
        });
    }
    if (errors.length)
      throw new ValidationFailedException(errors, `Malformed condition: ${errors.map((e) => e.message).join('; ')}`);
    return condition;
  }

  private async ownedSession(caller: Principal, sessionId: string): Promise<RemoteSession> {
    // The id is looked up as a room: one of another shape (`org:…`, `sub:…`) would name someone
    // else's room and cost a cluster-wide fetch, so it is refused first, as no session at all.
    if (!isSocketSessionId(sessionId)) throw new UnknownSessionException(sessionId);
    const session = await this.realtime.findSession(sessionId);
    // Another organisation's session is reported exactly like one that does not exist.
    if (!session || session.principal.organisation_id !== caller.organisation_id) {
      throw new UnknownSessionException(sessionId);
    }
    if (caller.kind === 'user' && session.principal.user_id !== caller.user_id) {
      throw new ForbiddenException(`Session ${sessionId} belongs to another user`);
    }
    return session;
  }
}
