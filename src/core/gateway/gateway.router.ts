import { Injectable } from '@nestjs/common';
import { EventRouter, type LiveRouter } from '../bus/router-registry';
import type { StoredEvent } from '../event-log/event.types';
import { rooms } from './rooms';

/** Every event reaches its organisation's room and, if it is about a user, that user's room. */
@EventRouter('live')
@Injectable()
export class OrganisationRoomsRouter implements LiveRouter {
  readonly name = 'organisation-and-user-sockets';

  rooms(event: StoredEvent): string[] {
    return [
      rooms.organisationEvents(event.organisation_id),
      ...(event.user_id ? [rooms.user(event.organisation_id, event.user_id)] : []),
    ];
  }
}
