import { Context, Query } from 'mingo';
import { RE2JS } from 're2js';
import type { EventEnvelope } from '../core/event-log/envelope';
import type { FieldError } from '../core/http/errors';

/**
 * Rule conditions: MongoDB-style queries evaluated by mingo, with two changes that keep one
 * subscription from stalling the dispatcher for everyone. `$regex` runs on RE2 (linear time, no
 * backreferences or lookaround) instead of the backtracking RegExp engine; and a condition's
 * size is capped and it is compiled once, when saved or loaded, never per event.
 */

/** Deepest nesting of objects and arrays in one rule's conditions; the conditions object itself is level 1. */
export const MAX_CONDITIONS_DEPTH = 16;
/** Values (objects, arrays and scalars) in one rule's conditions. */
export const MAX_CONDITIONS_NODES = 500;
/** One rule's conditions serialised as JSON, in bytes. */
export const MAX_CONDITIONS_BYTES = 16 * 1024;
/** Characters in one `$regex` pattern. */
export const MAX_REGEX_LENGTH = 512;
/**
 * RE2 program size of one pattern. RE2 is linear in the input, but the factor is the program
 * size: a 512-character pattern such as `.{1000}` repeated compiles to ~73,000 instructions and
 * takes ~30 s over a 1 MiB field. 1,000 keeps the worst pattern under ~0.2 s per MiB.
 */
export const MAX_REGEX_PROGRAM_SIZE = 1000;
/** Sum of the RE2 program sizes of every pattern in one subscription (all of its rules). */
export const MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE = 2000;
/** `$options` letters that map onto RE2 flags: i (case-insensitive), m (multi-line), s (dot matches newline). */
export const REGEX_OPTIONS = 'ims';

/** Operators that run code, compile expressions, or need a validator we do not configure. */
const REFUSED_OPERATORS = ['$expr', '$function', '$where', '$accumulator', '$jsonSchema'];
/** Where a rewritten `$regex` goes. It accepts only an `Re2Matcher`, which JSON cannot express, so a client naming it gets a 400. */
const RE2_OPERATOR = '$heraldRe2Regex';
const FLAGS: Record<string, number> = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL };
const LOGICAL = new Set(['$and', '$or', '$nor']);

export interface FailedCondition {
  path: string;
  expected: unknown;
  actual: unknown;
}

/** A condition that cannot be saved; `field` is the path of the offending part, as clients address it. */
export class InvalidConditionsError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }

  toFieldError(): FieldError {
    return { field: this.field, message: this.message };
  }
}

/**
 * mingo's `$regex` predicate calls `exec` on its operand and resolves the field path (nested
 * arrays included) itself; handing it this object keeps mingo's semantics and swaps the engine.
 */
class Re2Matcher {
  private static readonly MATCHED: string[] = [];

  constructor(private readonly re: RE2JS) {}

  exec(input: string): string[] | null {
    return this.re.test(input) ? Re2Matcher.MATCHED : null;
  }
}

type QueryOperator = (selector: string, value: unknown, options: { context: Context }) => (obj: unknown) => boolean;
type OperatorType = Parameters<Context['getOperator']>[0];

function refused(operator: string): QueryOperator {
  return () => {
    throw new Error(`${operator} is not allowed in conditions`);
  };
}

/**
 * Added to mingo's default operators for every condition query. The RE2 operator delegates to
 * mingo's own `$regex` for path resolution, handing it an `Re2Matcher` instead of a RegExp. The
 * query operators that evaluate expressions, code or schemas are refused here as well as on save.
 */
const CONTEXT = Context.init({
  query: {
    [RE2_OPERATOR]: ((selector, value, options) => {
      if (!(value instanceof Re2Matcher)) throw new Error(`${RE2_OPERATOR} is internal`);
      const builtin = options.context.getOperator('query' as OperatorType, '$regex') as QueryOperator;
      return builtin(selector, value, options);
    }) as QueryOperator,
    $expr: refused('$expr'),
    $jsonSchema: refused('$jsonSchema'),
    $where: refused('$where'),
  } as never,
});

const QUERY_OPTIONS = { context: CONTEXT, scriptEnabled: false };

/** Where in a query an operator sits, as `a.b.$op` (array positions as `[i]`). */
function findOperator(value: unknown, operator: string, path: string): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findOperator(value[i], operator, `${path}[${i}]`);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const here = path ? `${path}.${key}` : key;
      if (key === operator) return here;
      const found = findOperator(child, operator, here);
      if (found) return found;
    }
  }
  return undefined;
}

/** Depth and node count without recursion, stopping at the first limit crossed (a body can be deep). */
function checkSize(conditions: object, field: string): void {
  const stack: [unknown, number][] = [[conditions, 1]];
  let nodes = 0;
  while (stack.length) {
    const [value, depth] = stack.pop()!;
    if (++nodes > MAX_CONDITIONS_NODES)
      throw new InvalidConditionsError(
        field,
        `${field} has more than ${MAX_CONDITIONS_NODES} values; that is the limit for one rule's conditions`,
      );
    if (!value || typeof value !== 'object') continue;
    if (depth > MAX_CONDITIONS_DEPTH)
      throw new InvalidConditionsError(
        field,
        `${field} is nested deeper than ${MAX_CONDITIONS_DEPTH} levels; that is the limit for one rule's conditions`,
      );
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  const bytes = Buffer.byteLength(JSON.stringify(conditions));
  if (bytes > MAX_CONDITIONS_BYTES)
    throw new InvalidConditionsError(
      field,
      `${field} is ${bytes} bytes as JSON; the limit for one rule's conditions is ${MAX_CONDITIONS_BYTES}`,
    );
}

const isOperator = (key: string) => /^\$[a-zA-Z0-9_]+$/.test(key);
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  !!value && typeof value === 'object' && !Array.isArray(value);

/**
 * Copies a query with every `$regex` (and its `$options`) replaced by the RE2 operator. The walk
 * follows mingo 7's grammar: `$and/$or/$nor` hold queries; a field holds a literal or an
 * operator expression, in which `$not` holds an operator expression, `$elemMatch` either one or
 * a query, and `$all` may hold `{ $elemMatch }`. Literals are copied untouched.
 */
class RegexRewriter {
  cost = 0;

  query(query: unknown, path: string): unknown {
    if (!isPlainObject(query)) return query;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(query)) {
      const here = `${path}.${key}`;
      if (LOGICAL.has(key) && Array.isArray(value)) out[key] = value.map((q, i) => this.query(q, `${here}[${i}]`));
      else if (isOperator(key)) out[key] = value;
      else out[key] = this.fieldExpression(value, here);
    }
    return out;
  }

  private fieldExpression(expr: unknown, path: string): unknown {
    if (!isPlainObject(expr) || !Object.keys(expr).some(isOperator)) return expr;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(expr)) {
      const here = `${path}.${key}`;
      if (key === '$regex') out[RE2_OPERATOR] = this.regex(value, expr.$options, here, `${path}.$options`);
      else if (key === '$options') {
        if (!('$regex' in expr)) throw new InvalidConditionsError(here, `${here}: $options needs a $regex beside it`);
      } else if (key === '$not') out[key] = this.fieldExpression(value, here);
      else if (key === '$elemMatch') out[key] = this.elemMatch(value, here);
      else if (key === '$all' && Array.isArray(value)) {
        out[key] = value.map((item, i) =>
          isPlainObject(item) && Object.keys(item)[0] === '$elemMatch'
            ? { ...item, $elemMatch: this.elemMatch(item.$elemMatch, `${here}[${i}].$elemMatch`) }
            : item,
        );
      } else out[key] = value;
    }
    return out;
  }

  /** mingo treats `$elemMatch: { $gt: 1 }` as a condition on each element, and `{ a: 1 }` or `{ $or: [...] }` as a query over it. */
  private elemMatch(criteria: unknown, path: string): unknown {
    if (!isPlainObject(criteria) || !Object.keys(criteria).length) return criteria;
    const onElement = Object.keys(criteria).every((k) => isOperator(k) && !LOGICAL.has(k));
    return onElement ? this.fieldExpression(criteria, path) : this.query(criteria, path);
  }

  private regex(pattern: unknown, options: unknown, path: string, optionsPath: string): Re2Matcher {
    if (typeof pattern !== 'string') throw new InvalidConditionsError(path, `${path} must be a string pattern`);
    if (pattern.length > MAX_REGEX_LENGTH)
      throw new InvalidConditionsError(
        path,
        `${path} is ${pattern.length} characters; the limit for a pattern is ${MAX_REGEX_LENGTH}`,
      );
    let flags = 0;
    if (options !== undefined) {
      if (typeof options !== 'string')
        throw new InvalidConditionsError(
          optionsPath,
          `${optionsPath} must be a string of the letters ${REGEX_OPTIONS}`,
        );
      for (const letter of options) {
        if (!Object.hasOwn(FLAGS, letter))
          throw new InvalidConditionsError(
            optionsPath,
            `${optionsPath}: option "${letter}" is not supported; use any of ${REGEX_OPTIONS}`,
          );
        flags |= FLAGS[letter];
      }
    }
    let re: RE2JS;
    try {
      re = RE2JS.compile(pattern, flags);
    } catch (err) {
      throw new InvalidConditionsError(
        path,
        `${path}: not a valid RE2 pattern (no backreferences or lookaround): ${(err as Error).message}`,
      );
    }
    const size = re.programSize();
    if (size > MAX_REGEX_PROGRAM_SIZE)
      throw new InvalidConditionsError(
        path,
        `${path} is too complex: RE2 program size ${size}, the limit is ${MAX_REGEX_PROGRAM_SIZE}`,
      );
    this.cost += size;
    return new Re2Matcher(re);
  }
}

/** Fails closed if a `$regex` or `$options` survived the rewrite in a place mingo might read it. */
function assertNoNativeRegex(value: unknown, path: string): void {
  const stack: [unknown, string][] = [[value, path]];
  while (stack.length) {
    const [node, here] = stack.pop()!;
    if (Array.isArray(node)) node.forEach((child, i) => stack.push([child, `${here}[${i}]`]));
    else if (isPlainObject(node)) {
      for (const [key, child] of Object.entries(node)) {
        if (key === '$regex' || key === '$options')
          throw new InvalidConditionsError(
            `${here}.${key}`,
            `${here}.${key}: ${key} is only allowed in a field's condition`,
          );
        stack.push([child, `${here}.${key}`]);
      }
    }
  }
}

/** One rule's conditions, compiled: RE2 patterns built and the mingo query constructed, once. */
export class CompiledConditions {
  private parts?: { path: string; expected: unknown; query: Query }[];

  constructor(
    private readonly source: Record<string, unknown>,
    private readonly rewritten: Record<string, unknown>,
    private readonly query: Query,
    /** Sum of the RE2 program sizes of its patterns. */
    readonly regexCost: number,
  ) {}

  /** Whether an event envelope (or any test input) satisfies the conditions. */
  matches(input: EventEnvelope | Record<string, unknown>): boolean {
    return test(this.query, input);
  }

  /** Which top-level conditions an input fails, each with the actual value found there. */
  explain(input: EventEnvelope | Record<string, unknown>): FailedCondition[] {
    this.parts ??= Object.keys(this.source).map((path) => ({
      path,
      expected: this.source[path],
      query: new Query({ [path]: this.rewritten[path] }, QUERY_OPTIONS),
    }));
    return this.parts
      .filter((part) => !test(part.query, input))
      .map((part) => ({
        path: part.path,
        expected: part.expected,
        actual: part.path.startsWith('$') ? undefined : valueAt(input, part.path),
      }));
  }
}

function test(query: Query, input: EventEnvelope | Record<string, unknown>): boolean {
  // Some valid queries can still throw on a given input (a `__proto__` path, say); that is no
  // match, never an error that would stop the dispatcher's batch.
  try {
    return query.test(input as Record<string, unknown>);
  } catch {
    return false;
  }
}

/** A condition that can never match, for a stored rule that no longer compiles (saved before a limit existed). */
export const NEVER_MATCHES = new CompiledConditions({}, {}, new Query({ $nor: [{}] }, QUERY_OPTIONS), 0);

/**
 * Checks a rule's conditions against every limit and compiles them; throws
 * `InvalidConditionsError` naming the path of the first problem. `field` prefixes those paths.
 */
export function compileConditions(conditions: unknown, field = 'conditions'): CompiledConditions {
  if (!isPlainObject(conditions)) {
    throw new InvalidConditionsError(
      field,
      `${field} must be an object (a MongoDB-style query; {} matches every event)`,
    );
  }
  checkSize(conditions, field);
  for (const operator of REFUSED_OPERATORS) {
    const at = findOperator(conditions, operator, field);
    if (at) throw new InvalidConditionsError(at, `${at}: ${operator} is not allowed in conditions`);
  }
  const rewriter = new RegexRewriter();
  const rewritten = rewriter.query(conditions, field) as Record<string, unknown>;
  assertNoNativeRegex(rewritten, field);
  if (rewriter.cost > MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE) {
    throw new InvalidConditionsError(
      field,
      `${field}: its patterns are too complex together: RE2 program size ${rewriter.cost}, the limit for a subscription is ${MAX_SUBSCRIPTION_REGEX_PROGRAM_SIZE}`,
    );
  }
  try {
    return new CompiledConditions(conditions, rewritten, new Query(rewritten, QUERY_OPTIONS), rewriter.cost);
  } catch (err) {
    const message = (err as Error).message;
    const operator = /(\$[A-Za-z0-9_]+)/.exec(message)?.[1];
    const at = operator ? findOperator(conditions, operator, field) : undefined;
    throw new InvalidConditionsError(at ?? field, `${at ?? field}: ${message}`);
  }
}

/** Validates a rule's conditions; a problem comes back as a field error with its path. */
export function validateConditions(conditions: unknown, field: string): FieldError | undefined {
  try {
    compileConditions(conditions, field);
    return undefined;
  } catch (err) {
    if (err instanceof InvalidConditionsError) return err.toFieldError();
    throw err;
  }
}

function valueAt(input: unknown, path: string): unknown {
  let value: unknown = input;
  for (const part of path.split('.')) {
    if (value === null || value === undefined || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}
