import { ApiKeys1763900000000 } from './1763900000000-api-keys';
import { EventLog1763900100000 } from './1763900100000-event-log';

/** Every migration, oldest first. New ones are appended here. */
export const MIGRATIONS = [ApiKeys1763900000000, EventLog1763900100000];
