import express, { NextFunction, Request, RequestHandler, Response } from 'express';
import { familyForPath, problemFromBodyParser, renderProblem, statusText } from './errors';

const NUL_MESSAGE = 'NUL characters (\\u0000, %00) are not allowed';

/** Rejects NUL in any JSON string or key: Postgres cannot store it in text, and no field needs it. */
function rejectNul(key: string, value: unknown): unknown {
  if (key.includes('\u0000') || (typeof value === 'string' && value.includes('\u0000'))) throw new SyntaxError(NUL_MESSAGE);
  return value;
}

/**
 * JSON body parsing with Herald's limits. Parser failures (malformed JSON, a body over the
 * limit) happen before any controller runs, so they are answered here, in the envelope the
 * path's controller would have used. A NUL anywhere in the path, query or body is refused the
 * same way, before it can reach storage.
 */
export function jsonBodyParser(limitBytes: number): RequestHandler {
  const parse = express.json({ limit: limitBytes, strict: false, type: ['application/json', 'application/*+json'], reviver: rejectNul });
  return (req: Request, res: Response, next: NextFunction) => {
    if (/%00/i.test(req.url)) {
      res.status(400).json(renderProblem(familyForPath(req.path), { status: 400, error: statusText(400), message: NUL_MESSAGE }, req.path));
      return;
    }
    parse(req, res, (err?: unknown) => {
      if (!err) return next();
      const failure = err as { status?: number; type?: string; message?: string };
      const problem =
        failure.message === NUL_MESSAGE ? { status: 400, error: statusText(400), message: NUL_MESSAGE } : problemFromBodyParser(failure);
      if (problem.status === 413) res.setHeader('Connection', 'close');
      res.status(problem.status).json(renderProblem(familyForPath(req.path), problem, req.path));
    });
  };
}
