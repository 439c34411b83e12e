import { BadRequestException, ServiceUnavailableException } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { isUnavailable } from './unavailable';

function withCode(code: string, message = 'failed'): Error {
  return Object.assign(new Error(message), { code });
}

/** A pg DatabaseError as TypeORM hands it on: wrapped, with the driver's fields copied over. */
function queryFailed(code: string, message = 'failed'): QueryFailedError {
  return new QueryFailedError('SELECT 1', [], withCode(code, message));
}

describe('isUnavailable', () => {
  it.each([
    ['connection refused', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['connection reset', withCode('ECONNRESET', 'read ECONNRESET')],
    ['a broken pipe', withCode('EPIPE')],
    ['a connect timeout', withCode('ETIMEDOUT')],
    ['an unresolvable host', withCode('EAI_AGAIN')],
    ['pg: server terminated the connection', new Error('Connection terminated unexpectedly')],
    [
      'pg: connection timeout',
      new Error('Connection terminated due to connection timeout', { cause: new Error('timeout expired') }),
    ],
    ['pg-pool: no connection in time', new Error('timeout exceeded when trying to connect')],
    [
      'pg: a client whose connection broke',
      new Error('Client has encountered a connection error and is not queryable'),
    ],
    ['57P01 admin_shutdown', queryFailed('57P01', 'terminating connection due to administrator command')],
    ['57P02 crash_shutdown', queryFailed('57P02')],
    ['57P03 cannot_connect_now', withCode('57P03', 'the database system is starting up')],
    ['08006 connection_failure', queryFailed('08006')],
    ['08001 unable to connect', withCode('08001')],
    ['08P01 protocol violation (class 08)', withCode('08P01')],
    ['53300 too_many_connections', withCode('53300', 'sorry, too many clients already')],
    ['55P03 lock_not_available (lock_timeout)', queryFailed('55P03', 'canceling statement due to lock timeout')],
    ['57014 query_canceled (statement_timeout)', queryFailed('57014', 'canceling statement due to statement timeout')],
    [
      '25P03 idle_in_transaction_session_timeout',
      queryFailed('25P03', 'terminating connection due to idle-in-transaction timeout'),
    ],
    ['SQLite busy', new QueryFailedError('INSERT', [], withCode('SQLITE_BUSY', 'database is locked'))],
    ['SQLite busy (extended code)', withCode('SQLITE_BUSY_SNAPSHOT')],
    [
      'ioredis: retries exhausted',
      Object.assign(new Error('Reached the max retries per request limit (which is 3).'), {
        name: 'MaxRetriesPerRequestError',
      }),
    ],
    ['ioredis: connection closed', new Error('Connection is closed.')],
    ['Redis still loading its data set', new Error('LOADING Redis is loading the dataset in memory')],
    ['Socket.IO adapter: no answer over Redis', new Error('timeout reached while waiting for fetchSockets response')],
    [
      'refused on every address (AggregateError)',
      new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], 'connect failed'),
    ],
    [
      'refused, several causes deep',
      new Error('outer', { cause: new Error('middle', { cause: withCode('ECONNREFUSED') }) }),
    ],
  ])('%s → unavailable', (_what, err) => {
    expect(isUnavailable(err)).toBe(true);
  });

  it.each([
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a unique violation', queryFailed('23505', 'duplicate key value violates unique constraint')],
    ['a syntax error', queryFailed('42601', 'syntax error at or near "SELEC"')],
    ['an undefined table', queryFailed('42P01', 'relation "events" does not exist')],
    ['a serialization failure is not an outage', queryFailed('40001')],
    ['SQLite constraint', withCode('SQLITE_CONSTRAINT_UNIQUE')],
    ['SQLite corrupt file', withCode('SQLITE_CORRUPT')],
    ['an HTTP exception', new BadRequestException('nope')],
    ['a 503 raised on purpose stays the HttpException it is', new ServiceUnavailableException('Not ready')],
    ['a message that merely mentions a code', new Error('ECONNREFUSED happened once, long ago')],
    ['not an error at all', 'ECONNREFUSED'],
    ['null', null],
    ['undefined', undefined],
  ])('%s → not unavailable', (_what, err) => {
    expect(isUnavailable(err)).toBe(false);
  });

  it('survives a cause cycle', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isUnavailable(a)).toBe(false);
  });
});
