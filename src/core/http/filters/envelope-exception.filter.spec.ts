import {
  ArgumentsHost,
  BadRequestException,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { ValidationFailedException } from '../errors';
import { Seed001ExceptionFilter, Seed004ExceptionFilter, StandardExceptionFilter } from './envelope-exception.filter';

function run(filter: { catch(e: unknown, h: ArgumentsHost): void }, exception: unknown) {
  const sent: { status?: number; body?: unknown; headers?: Record<string, string> } = {};
  const res = {
    headersSent: false,
    setHeader(name: string, value: string) {
      sent.headers = { ...sent.headers, [name]: value };
    },
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

const invalid = new ValidationFailedException(
  [{ field: 'event_types', message: 'event_types must be an array' }],
  'Validation failed',
);

describe('error envelopes', () => {
  // The filter logs every unexpected error; the spec asserts what the client gets (each spec file has its own Logger).
  beforeAll(() => Logger.overrideLogger(false));

  it('standard: statusCode, error, message, details', () => {
    expect(run(new StandardExceptionFilter(), invalid)).toEqual({
      status: 400,
      body: {
        statusCode: 400,
        error: 'Bad Request',
        message: 'Validation failed',
        details: [{ field: 'event_types', message: 'event_types must be an array' }],
      },
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

  describe('an unavailable database or bus is a 503 with Retry-After, in every family', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const adminShutdown = new QueryFailedError(
      'INSERT INTO events',
      [],
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    );
    const message = 'Service temporarily unavailable, retry in 5 s (request id req-1)';

    it('standard', () => {
      const sent = run(new StandardExceptionFilter(), refused);
      expect(sent).toEqual({
        status: 503,
        headers: { 'Retry-After': '5' },
        body: { statusCode: 503, error: 'Service Unavailable', message },
      });
      expect(JSON.stringify(sent.body)).not.toContain('5432');
    });

    it('seed 001', () => {
      const sent = run(new Seed001ExceptionFilter(), adminShutdown);
      expect(sent.status).toBe(503);
      expect(sent.headers).toEqual({ 'Retry-After': '5' });
      expect(sent.body).toEqual({
        code: 503,
        message,
        stack: [{ code: 503, description: message, error: 'Service Unavailable', path: '/x' }],
      });
    });

    it('seed 004', () => {
      const sent = run(new Seed004ExceptionFilter(), adminShutdown);
      expect(sent.status).toBe(503);
      expect(sent.headers).toEqual({ 'Retry-After': '5' });
      expect(sent.body).toEqual({ success: false, message });
    });

    it('a bug stays a 500 without Retry-After; a deliberate 503 keeps its own body', () => {
      const bug = run(new StandardExceptionFilter(), new TypeError('x is undefined'));
      expect(bug.status).toBe(500);
      expect(bug.headers).toBeUndefined();
      const notReady = run(new StandardExceptionFilter(), new ServiceUnavailableException('Not ready'));
      expect(notReady).toEqual({
        status: 503,
        body: { statusCode: 503, error: 'Service Unavailable', message: 'Not ready' },
      });
    });
  });
});
