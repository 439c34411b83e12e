import Ajv, { type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import type { FieldError } from '../core/http/errors';
import type { Rule } from './subscription-rules';

interface TopicDefinition<I> {
  name: string;
  description: string;
  rules(inputs: I): Rule[];
}

// Inputs are `any` here: they are checked by the schema before rules() sees them.
export interface SubscriptionTemplate<I = any> {
  id: string;
  title: string;
  description: string;
  input_schema: SchemaObject;
  topics: TopicDefinition<I>[];
}

interface LargeClaimInputs {
  min_amount: number;
  currency?: string;
}
interface RejectionInputs {
  with_reason_only?: boolean;
}
interface ChannelFollowInputs {
  channel_id: string;
}

const largeClaims: SubscriptionTemplate<LargeClaimInputs> = {
  id: 'large-claims',
  title: 'Claims above an amount',
  description: 'Claims whose amount is at least min_amount (optionally in one currency).',
  input_schema: {
    type: 'object',
    properties: {
      min_amount: { type: 'number', minimum: 0 },
      currency: { type: 'string', pattern: '^[A-Z]{3}$', nullable: true },
    },
    required: ['min_amount'],
    additionalProperties: false,
  },
  topics: [
    {
      name: 'submitted',
      description: 'A large claim was submitted',
      rules: (i) => [{ trigger: 'claim_submitted', conditions: amountAtLeast(i) }],
    },
    {
      name: 'approved',
      description: 'A large claim was approved',
      rules: (i) => [{ trigger: 'claim_approved', conditions: amountAtLeast(i) }],
    },
  ],
};

const rejections: SubscriptionTemplate<RejectionInputs> = {
  id: 'rejections',
  title: 'Rejected claims',
  description: 'Every rejection, optionally only those that give a reason.',
  input_schema: {
    type: 'object',
    properties: { with_reason_only: { type: 'boolean', nullable: true } },
    additionalProperties: false,
  },
  topics: [
    {
      name: 'rejected',
      description: 'A claim was rejected',
      rules: (i) => [
        {
          trigger: 'claim_rejected',
          conditions: i.with_reason_only ? { 'data.comment': { $exists: true, $ne: '' } } : {},
        },
      ],
    },
    {
      name: 'status',
      description: 'A claim’s status changed to rejected',
      rules: () => [{ trigger: 'status_changed', conditions: { 'data.new_status': 'rejected' } }],
    },
  ],
};

const channelFollows: SubscriptionTemplate<ChannelFollowInputs> = {
  id: 'channel-follows',
  title: 'Channel follows',
  description: 'Someone followed a given channel.',
  input_schema: {
    type: 'object',
    properties: { channel_id: { type: 'string', minLength: 1, maxLength: 128 } },
    required: ['channel_id'],
    additionalProperties: false,
  },
  topics: [
    {
      name: 'follow',
      description: 'A user followed the channel',
      rules: (i) => [{ trigger: 'channel.follow', conditions: { channelid: i.channel_id } }],
    },
  ],
};

function amountAtLeast(i: LargeClaimInputs): Record<string, unknown> {
  return { 'data.amount': { $gte: i.min_amount }, ...(i.currency ? { 'data.currency': i.currency } : {}) };
}

export const TEMPLATES = [largeClaims, rejections, channelFollows] as SubscriptionTemplate[];

const ajv = new Ajv({ allErrors: true, strict: true });
const validators = new Map<string, ValidateFunction>(TEMPLATES.map((t) => [t.id, ajv.compile(t.input_schema)]));

function inputError(e: ErrorObject): FieldError {
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const missing = e.keyword === 'required' ? (e.params as { missingProperty: string }).missingProperty : undefined;
  const extra =
    e.keyword === 'additionalProperties' ? (e.params as { additionalProperty: string }).additionalProperty : undefined;
  const name = missing ?? extra ?? path;
  const field = `template.inputs${name ? `.${name}` : ''}`;
  const message = missing
    ? `${field} is required`
    : extra
      ? `${field} is not an input of this template`
      : `${field} ${e.message}`;
  return { field, message };
}

/** Validates inputs against the template's schema and expands the chosen topics into rules. */
export function expandTemplate(id: string, inputs: unknown, topics: string[]): { rules: Rule[]; errors: FieldError[] } {
  const template = TEMPLATES.find((t) => t.id === id);
  if (!template)
    return {
      rules: [],
      errors: [
        { field: 'template.id', message: `unknown template ${id}; known: ${TEMPLATES.map((t) => t.id).join(', ')}` },
      ],
    };
  const validate = validators.get(id)!;
  const errors: FieldError[] = validate(inputs) ? [] : (validate.errors ?? []).map(inputError);
  const known = template.topics.map((t) => t.name);
  for (const topic of topics) {
    if (!known.includes(topic))
      errors.push({ field: 'template.topics', message: `unknown topic ${topic} of ${id}; known: ${known.join(', ')}` });
  }
  if (!topics.length) errors.push({ field: 'template.topics', message: 'choose at least one topic' });
  if (errors.length) return { rules: [], errors };
  return {
    rules: template.topics.filter((t) => topics.includes(t.name)).flatMap((t) => t.rules(inputs as never)),
    errors,
  };
}

export function describeTemplates() {
  return TEMPLATES.map((t) => ({
    id: t.id,
    title: t.title,
    description: t.description,
    input_schema: t.input_schema,
    topics: t.topics.map((topic) => ({ name: topic.name, description: topic.description })),
  }));
}
