import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';

/** A JSON Schema (draft-07, the dialect AsyncAPI schemas extend) as plain JSON. */
export type JsonSchema = Record<string, unknown>;

/** What a built-in type's `data` holds (version 1 of each), with an example. */
export interface DataContract {
  schema: JsonSchema;
  example: Record<string, unknown>;
}

const str = (description: string): JsonSchema => ({ type: 'string', description });

/**
 * Fields of claim events: what approval notifications write into the events they append
 * (NotificationsService: notification_id, claim_id, new_status, recipient_user_id, comment,
 * amount, currency) and what subscription templates and producers read and write. Only their
 * types are fixed; any other field is allowed, so producers keep sending what they send today.
 */
const CLAIM_FIELDS: Record<string, JsonSchema> = {
  claim_id: str('The claim (the envelope carries it as `claimid` too).'),
  amount: { type: 'number', description: 'The claimed amount, in `currency`.' },
  currency: str('ISO 4217 code of `amount`, e.g. `NOK`.'),
  comment: { type: ['string', 'null'], description: "The approver's or commenter's text." },
  new_status: str(
    "The claim's status after the change: `submitted`, `in_review`, `approved`, `rejected`, `paid` or `cancelled`.",
  ),
  recipient_user_id: str('Who the approval notification that appended the event went to.'),
  notification_id: str('The approval notification that appended the event (`notif_…`), when one did.'),
};

function claimData(description: string, extra: Record<string, JsonSchema> = {}): JsonSchema {
  return { type: 'object', description, properties: { ...CLAIM_FIELDS, ...extra }, additionalProperties: true };
}

const CLAIM = 'clm_9f2a3b4c';

/** `data` of the built-in types, version 1. */
export const BUILT_IN_DATA: Record<string, DataContract> = {
  claim_submitted: {
    schema: claimData('A claim was submitted for approval.'),
    example: { claim_id: CLAIM, amount: 4850, currency: 'NOK' },
  },
  claim_approved: {
    schema: claimData('A claim was approved.', { approver: str('Who approved it (a user id).') }),
    example: { claim_id: CLAIM, amount: 4850, currency: 'NOK', approver: 'usr_coord99' },
  },
  claim_rejected: {
    schema: claimData('A claim was rejected; `comment` says why.'),
    example: { claim_id: CLAIM, comment: 'Missing receipt for hotel stay.' },
  },
  status_changed: {
    schema: claimData("A claim's status changed; an approval notification appends one with every field below."),
    example: {
      notification_id: 'notif_01jd3m7k2q8w6t5v4x3y2z1a0b',
      claim_id: CLAIM,
      new_status: 'approved',
      recipient_user_id: 'usr_84cd12ef',
      comment: 'All receipts verified.',
      amount: 4850,
      currency: 'NOK',
    },
  },
  comment_added: {
    schema: claimData('A comment was added to a claim; `comment` is its text.'),
    example: { claim_id: CLAIM, comment: 'Please attach the taxi receipt.' },
  },
  'channel.follow': {
    schema: {
      type: 'object',
      description: 'A user followed a channel (the envelope names it in `channelid`).',
      properties: { follower: str('The user who followed the channel.') },
      additionalProperties: true,
    },
    example: { follower: 'usr_84cd12ef' },
  },
};

/**
 * One compiler for every data schema, built-in or declared in EVENT_TYPES_FILE: strict about
 * keywords (a typo fails start-up instead of validating nothing), lenient about type
 * annotations, and `format` is documentation only (no format library is loaded).
 */
const ajv = new Ajv({
  allErrors: true,
  strictSchema: true,
  strictNumbers: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  validateFormats: false,
});

/** Compiles `schema`; throws with ajv's reason when it is not a valid schema. */
export function compileDataSchema(schema: JsonSchema): ValidateFunction {
  return ajv.compile(schema);
}

/** One invalid field of `data`, in the standard envelope's `details` form. */
export interface DataFieldError {
  field: string;
  message: string;
}

/**
 * ajv's errors as `details`: paths from `base` (`data.amount`, `events[2].data.items[0]`), a
 * missing field as "<path> is required", an unexpected one as "unknown field <path> is not allowed".
 */
export function dataFieldErrors(errors: ErrorObject[], base: string): DataFieldError[] {
  const out = new Map<string, DataFieldError>();
  for (const error of errors) {
    const at = pathOf(base, error.instancePath);
    let detail: DataFieldError;
    if (error.keyword === 'required') {
      const field = child(at, String(error.params.missingProperty));
      detail = { field, message: `${field} is required` };
    } else if (error.keyword === 'additionalProperties') {
      const field = child(at, String(error.params.additionalProperty));
      detail = { field, message: `unknown field ${field} is not allowed` };
    } else if (error.keyword === 'type') {
      const types = String(error.params.type).split(',').map(withArticle);
      detail = { field: at, message: `${at} must be ${types.join(' or ')}` };
    } else if (error.keyword === 'enum') {
      const allowed = (error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v));
      detail = { field: at, message: `${at} must be one of ${allowed.join(', ')}` };
    } else {
      detail = { field: at, message: `${at} ${error.message ?? 'is invalid'}` };
    }
    out.set(`${detail.field}\u0000${detail.message}`, detail);
  }
  return [...out.values()];
}

function withArticle(type: string): string {
  if (type === 'null') return 'null';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** `/items/0/a~1b` under `data` → `data.items[0].a/b`. */
function pathOf(base: string, pointer: string): string {
  if (!pointer) return base;
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce(child, base);
}

function child(parent: string, key: string): string {
  return /^\d+$/.test(key) ? `${parent}[${key}]` : `${parent}.${key}`;
}
