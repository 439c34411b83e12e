import { ArgumentsHost, BadRequestException, NotFoundException } from '@nestjs/common';
import { ValidationFailedException } from '../errors';
import { Seed001ExceptionFilter, Seed004ExceptionFilter, StandardExceptionFilter } from './envelope-exception.filter';

function run(filter: { catch(e: unknown, h: ArgumentsHost): void }, exception: unknown) {
  const sent: { status?: number; body?: unknown } = {};
  const res = {
    headersSent: false,
    status(code: number) {
      sent.status = code;
      return this;
    },
    json(body: unknown) {
      sent.body = body;
    },
  };
  const host = {
    getType: () => 'http',
    switchToHttp: () => ({ getRequest: () => ({ path: '/x', id: 'req-1' }), getResponse: () => res }),
  } as unknown as ArgumentsHost;
  filter.catch(exception, host);
  return sent;
}

const invalid = new ValidationFailedException([{ field: 'event_types', message: 'event_types must be an array' }], 'Validation failed');

describe('error envelopes', () => {
  it('standard: statusCode, error, message, details', () => {
    expect(run(new StandardExceptionFilter(), invalid)).toEqual({
      status: 400,
      body: { statusCode: 400, error: 'Bad Request', message: 'Validation failed', details: [{ field: 'event_types', message: 'event_types must be an array' }] },
    });
    expect(run(new StandardExceptionFilter(), new NotFoundException('Channel chan_1 not found')).body).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'Channel chan_1 not found',
    });
  });

  it('seed 001: code, message, stack of { code, description, error, path }', () => {
    expect(run(new Seed001ExceptionFilter(), invalid).body).toEqual({
      code: 400,
      message: 'Validation failed',
      stack: [{ code: 400, description: 'event_types must be an array', error: 'Bad Request', path: 'event_types' }],
    });
    expect(run(new Seed001ExceptionFilter(), new BadRequestException('Expected a WebSocket upgrade')).body).toEqual({
      code: 400,
      message: 'Expected a WebSocket upgrade',
      stack: [{ code: 400, description: 'Expected a WebSocket upgrade', error: 'Bad Request', path: '/x' }],
    });
  });

  it('seed 004: success false, message, errors', () => {
    expect(run(new Seed004ExceptionFilter(), invalid).body).toEqual({
      success: false,
      message: 'Validation failed',
      errors: [{ field: 'event_types', message: 'event_types must be an array' }],
    });
  });

  it('an unexpected error is a 500 carrying only the request id', () => {
    const sent = run(new StandardExceptionFilter(), new Error('secret internals'));
    expect(sent.status).toBe(500);
    expect(JSON.stringify(sent.body)).not.toContain('secret internals');
    expect(sent.body).toMatchObject({ statusCode: 500, message: 'Internal server error (request id req-1)' });
  });
});
