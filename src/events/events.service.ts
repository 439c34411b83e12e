import { ConflictException, ForbiddenException, GoneException, Injectable } from '@nestjs/common';
import type { Principal } from '../core/auth/principal';
import { producesFor, readsEvent, seesWholeOrganisation } from '../core/auth/principal';
import { EventCatalog } from '../core/event-log/event-catalog';
import { EventLog, type AlongsideAppend } from '../core/event-log/event-log.service';
import type { AppendResult, NewEvent, StoredEvent } from '../core/event-log/event.types';
import { ValidationFailedException } from '../core/http/errors';
import type {
  EventDto,
  EventPageDto,
  ListEventsQueryDto,
  PublishBatchResultDto,
  PublishEventDto,
} from './dto/event.dto';

/** The producer id is taken by an event the caller may not read: nothing of that event is told. */
export class EventIdConflictException extends ConflictException {
  constructor(id: string) {
    super(`Event id ${id} is already in use; publish under another id`);
  }
}

export function toEventDto(event: StoredEvent): EventDto {
  return { ...event };
}

@Injectable()
export class EventsService {
  constructor(
    private readonly log: EventLog,
    private readonly catalog: EventCatalog,
  ) {}

  async publish(principal: Principal, dto: PublishEventDto): Promise<AppendResult> {
    const inputs = [this.toNewEvent(principal, dto, 'body')];
    const [result] = await this.log.append(inputs, this.duplicateGuard(principal, inputs));
    return result;
  }

  async publishBatch(principal: Principal, dtos: PublishEventDto[]): Promise<PublishBatchResultDto> {
    const inputs = dtos.map((dto, i) => this.toNewEvent(principal, dto, `events[${i}]`));
    const results = await this.log.append(inputs, this.duplicateGuard(principal, inputs));
    const created = results.filter((r) => r.created).length;
    return { events: results.map((r) => toEventDto(r.event)), created, duplicates: results.length - created };
  }

  async list(principal: Principal, query: ListEventsQueryDto): Promise<EventPageDto> {
    const prunedThrough = await this.log.prunedThrough();
    if (query.after < prunedThrough) {
      throw new GoneException(`Events up to seq ${prunedThrough} are past retention; read from after=${prunedThrough}`);
    }
    for (const type of query.type ?? []) this.requireKnownType(type, 'type');
    const events = await this.log.readAfter(
      query.after,
      {
        organisation_id: principal.organisation_id,
        types: query.type,
        ...(seesWholeOrganisation(principal) ? {} : { user_id: principal.user_id ?? '' }),
      },
      query.limit + 1,
    );
    const page = events.slice(0, query.limit);
    return {
      data: page.map(toEventDto),
      next_after: page.length ? page[page.length - 1].seq : query.after,
      has_more: events.length > query.limit,
    };
  }

  /**
   * Republishing a producer id answers with the original event, but only to a caller that may
   * read it. For anyone else it is a 409 raised inside the append's transaction, so a batch
   * carrying such an id stores nothing. Callers that see the whole organisation, and inputs
   * without producer ids, need no check (and keep the group-committed path).
   */
  private duplicateGuard(principal: Principal, inputs: NewEvent[]): AlongsideAppend | undefined {
    if (seesWholeOrganisation(principal) || !inputs.some((i) => i.id)) return undefined;
    return async (_manager, results) => {
      const hidden = results.find(
        (r) => !r.created && !readsEvent({ orgWide: false, user_id: principal.user_id }, r.event),
      );
      if (hidden) throw new EventIdConflictException(hidden.event.id);
    };
  }

  private toNewEvent(principal: Principal, dto: PublishEventDto, at: string): NewEvent {
    const definition = this.requireKnownType(dto.type, `${at}.type`);
    const version = dto.version ?? definition.versions[definition.versions.length - 1];
    if (!definition.versions.includes(version)) {
      throw new ValidationFailedException(
        [
          {
            field: `${at}.version`,
            message: `version must be one of ${definition.versions.join(', ')} for ${dto.type}`,
          },
        ],
        `Unsupported version ${version} of event type ${dto.type}`,
      );
    }
    // Named as the validation pipe names body fields: `data.amount`, `events[2].data.amount`.
    const dataErrors = this.catalog.dataErrors(dto.type, version, dto.data, at === 'body' ? 'data' : `${at}.data`);
    if (dataErrors.length) {
      const summary = dataErrors.length === 1 ? dataErrors[0].message : `${dataErrors.length} fields are invalid`;
      throw new ValidationFailedException(dataErrors, `Invalid data for ${dto.type} v${version}: ${summary}`);
    }
    if (dto.occurred_at !== undefined && Number.isNaN(Date.parse(dto.occurred_at))) {
      throw new ValidationFailedException([
        {
          field: `${at}.occurred_at`,
          message: 'occurred_at must be an RFC 3339 date-time such as 2026-03-26T08:14:22Z',
        },
      ]);
    }
    const organisationId = this.organisationFor(principal, dto.organisation_id);
    if (!producesFor(principal, dto.user_id)) {
      throw new ForbiddenException('A user credential may only publish events about its own user');
    }
    return {
      id: dto.id,
      type: dto.type,
      version,
      organisation_id: organisationId,
      user_id: dto.user_id ?? (principal.kind === 'user' ? principal.user_id : null),
      claim_id: dto.claim_id,
      channel_id: dto.channel_id,
      data: dto.data,
      occurred_at: dto.occurred_at,
    };
  }

  private organisationFor(principal: Principal, requested?: string): string {
    if (principal.operator) {
      if (!requested)
        throw new ValidationFailedException([
          { field: 'organisation_id', message: 'organisation_id is required for the operator key' },
        ]);
      return requested;
    }
    if (requested && requested !== principal.organisation_id) {
      throw new ForbiddenException('A credential may only publish into its own organisation');
    }
    return principal.organisation_id;
  }

  private requireKnownType(type: string, field: string) {
    const definition = this.catalog.get(type);
    if (!definition) {
      const known = this.catalog.types().join(', ');
      throw new ValidationFailedException(
        [{ field, message: `unknown event type ${type}; the catalog has ${known}` }],
        `Unknown event type ${type}. Known types: ${known}`,
      );
    }
    return definition;
  }
}
