import express, { NextFunction, Request, RequestHandler, Response } from 'express';
import { familyForPath, problemFromBodyParser, renderProblem } from './errors';

/**
 * JSON body parsing with Herald's limits. Parser failures (malformed JSON, a body over the
 * limit) happen before any controller runs, so they are answered here, in the envelope the
 * path's controller would have used.
 */
export function jsonBodyParser(limitBytes: number): RequestHandler {
  const parse = express.json({ limit: limitBytes, strict: false, type: ['application/json', 'application/*+json'] });
  return (req: Request, res: Response, next: NextFunction) => {
    parse(req, res, (err?: unknown) => {
      if (!err) return next();
      const problem = problemFromBodyParser(err as { status?: number; type?: string; message?: string });
      if (problem.status === 413) res.setHeader('Connection', 'close');
      res.status(problem.status).json(renderProblem(familyForPath(req.path), problem, req.path));
    });
  };
}
