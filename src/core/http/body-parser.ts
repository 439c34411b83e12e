import express, { NextFunction, Request, RequestHandler, Response } from 'express';
import { noteRequestFailure } from '../logging/logger';
import { familyForPath, type Problem, problemFromBodyParser, renderProblem, statusText } from './errors';

const NUL_MESSAGE = 'NUL characters (\\u0000, %00) are not allowed';

/**
 * Deepest nesting of objects and arrays a JSON body may have; the body itself is level 1. Bodies
 * are validated by class-transformer, which recurses and fails with a 500 around 1,000 levels;
 * no Herald request needs more than a handful (a subscription's conditions may nest 16).
 */
export const MAX_JSON_DEPTH = 64;
const DEPTH_MESSAGE = `Request body is nested deeper than ${MAX_JSON_DEPTH} levels; that is the limit for a JSON body`;

/**
 * JSON has no raw NUL (control characters in strings must be escaped), so a parsed string or key
 * holds one only where the text has this escape.
 */
const NUL_ESCAPE = '\\u0000';
const MAY_HOLD_NUL = Symbol('herald.mayHoldNul');
type ParsedRequest = Request & { [MAY_HOLD_NUL]?: boolean };

/** Whether any string or key in a parsed body holds NUL; without recursion, like `deeperThan`. */
function holdsNul(body: unknown): boolean {
  const stack: unknown[] = [body];
  while (stack.length) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return true;
    } else if (value && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (key.includes('\u0000')) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/** Without recursion, so any depth the parser accepted can be measured. */
function deeperThan(body: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[body, 1]];
  while (stack.length) {
    const [value, depth] = stack.pop()!;
    if (!value || typeof value !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Object.values(value)) if (child && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * JSON body parsing with Herald's limits. Parser failures (malformed JSON, a body over the size
 * or depth limit) happen before any controller runs, so they are answered here, in the envelope
 * the path's controller would have used. A NUL anywhere in the path, query or body is refused
 * the same way, before it can reach storage (Postgres cannot store it in text, and no field
 * needs it).
 *
 * The body is looked through for NUL only when its text has the escape for one (or is not
 * UTF-8): a reviver that checked every value made JSON.parse several times slower for every body.
 */
export function jsonBodyParser(limitBytes: number): RequestHandler {
  const parse = express.json({
    limit: limitBytes,
    strict: false,
    type: ['application/json', 'application/*+json'],
    verify: (req, _res, raw, encoding) => {
      (req as ParsedRequest)[MAY_HOLD_NUL] = !/^utf-?8$/i.test(encoding) || raw.includes(NUL_ESCAPE);
    },
  });
  return (req: Request, res: Response, next: NextFunction) => {
    const refuse = (problem: Problem) => {
      if (problem.status === 413) res.setHeader('Connection', 'close');
      noteRequestFailure(res, problem);
      res.status(problem.status).json(renderProblem(familyForPath(req.path), problem, req.path));
    };
    if (/%00/i.test(req.url)) return refuse({ status: 400, error: statusText(400), message: NUL_MESSAGE });
    parse(req, res, (err?: unknown) => {
      if (!err) {
        if ((req as ParsedRequest)[MAY_HOLD_NUL] && holdsNul(req.body))
          return refuse({ status: 400, error: statusText(400), message: NUL_MESSAGE });
        if (deeperThan(req.body, MAX_JSON_DEPTH))
          return refuse({ status: 400, error: statusText(400), message: DEPTH_MESSAGE });
        return next();
      }
      // Without a reviver JSON.parse does not recurse, so any depth reaches the check above.
      refuse(problemFromBodyParser(err as { status?: number; type?: string; message?: string }));
    });
  };
}
