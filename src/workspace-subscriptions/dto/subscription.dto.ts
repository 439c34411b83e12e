import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import type { EventEnvelope } from '../../core/event-log/envelope';
import { IsPresent } from '../../core/http/validation';
import { HEADER_VALUE_MASK, TEST_HEADER } from '../action-headers';
import {
  MAX_CONDITIONS_BYTES,
  MAX_CONDITIONS_DEPTH,
  MAX_CONDITIONS_NODES,
  MAX_REGEX_LENGTH,
  REGEX_OPTIONS,
} from '../subscription-conditions';

/** Any JSON value, null included (OpenAPI 3.0 spells null as `nullable` beside a type). */
const ANY_JSON = {
  anyOf: [
    { type: 'string' },
    { type: 'number' },
    { type: 'boolean' },
    { type: 'array', items: {} },
    { type: 'object', additionalProperties: true, nullable: true },
  ],
};

export class RuleDto {
  @ApiProperty({ example: 'claim_approved', description: 'An event type from the catalog, optionally `type@version`.' })
  @IsString()
  @Length(1, 80)
  trigger: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { 'data.amount': { $gte: 1000 } },
    description:
      'MongoDB-style query over the event envelope; {} matches all. `$regex` uses RE2 syntax (no backreferences or lookaround), ' +
      `\`$options\` any of ${REGEX_OPTIONS}, at most ${MAX_REGEX_LENGTH} characters. At most ${MAX_CONDITIONS_DEPTH} levels deep, ` +
      `${MAX_CONDITIONS_NODES} values and ${MAX_CONDITIONS_BYTES} bytes as JSON.`,
  })
  @IsObject()
  conditions: Record<string, unknown>;
}

export class TemplateRefDto {
  @ApiProperty({ example: 'large-claims' })
  @IsString()
  id: string;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { min_amount: 1000, currency: 'NOK' } })
  @IsObject()
  inputs: Record<string, unknown>;

  @ApiProperty({ type: [String], example: ['approved'] })
  @IsArray()
  @IsString({ each: true })
  topics: string[];
}

export class ActionDto {
  @ApiProperty({ enum: ['webhook', 'socket'] })
  @IsIn(['webhook', 'socket'])
  type: 'webhook' | 'socket';

  @ApiPropertyOptional({
    example: 'https://client.example.com/hooks/herald',
    description: 'webhook: where to POST (signed, Standard Webhooks).',
  })
  @ValidateIf((a: ActionDto) => a.type === 'webhook')
  @IsPresent('$path is required for a webhook action')
  @IsString()
  @Length(1, 2048)
  url?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { authorization: 'Bearer partner-token', 'x-team': 'finance' },
    description:
      `webhook: extra request headers. Values are write-only: every response shows each name with the value \`${HEADER_VALUE_MASK}\`. ` +
      `A replace that sends \`${HEADER_VALUE_MASK}\` back keeps the stored value, as long as the webhook url is unchanged (a new url needs the values again). ` +
      `\`${TEST_HEADER}\` is reserved.`,
  })
  @IsOptional()
  @IsObject()
  headers?: Record<string, string>;

  @ApiPropertyOptional({
    example: 'finance-dashboard',
    description: 'socket: room to emit into; default the workspace room.',
  })
  @IsOptional()
  @IsString()
  @Length(1, 128)
  room?: string;
}

export class MetaDto {
  @ApiPropertyOptional({ example: 'Large approvals to finance' })
  @IsOptional()
  @IsString()
  @Length(0, 200)
  title?: string;
}

/** Create and replace (POST /:id) take the same shape. */
export class SaveSubscriptionDto {
  @ApiPropertyOptional({
    type: TemplateRefDto,
    nullable: true,
    description: 'Template mode: id, inputs (checked against its schema), topics (expanded into rules).',
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => TemplateRefDto)
  template?: TemplateRefDto | null;

  @ApiPropertyOptional({ type: [RuleDto], description: 'Direct mode: at least one rule. Ignored in template mode.' })
  @ValidateIf((o: SaveSubscriptionDto) => !o.template)
  @IsPresent('$path is required unless a template is given')
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  // ValidateNested lets an array through where a rule should be (its items are validated instead).
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => RuleDto)
  rules?: RuleDto[];

  @ApiProperty({ type: [String], example: ['organisations/org_001', 'claims/*'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @IsString({ each: true })
  resources: string[];

  @ApiPropertyOptional({
    type: [ActionDto],
    example: [{ type: 'webhook', url: 'https://client.example.com/hooks/herald' }, { type: 'socket' }],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => ActionDto)
  actions?: ActionDto[];

  @ApiPropertyOptional({ type: MetaDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => MetaDto)
  meta?: MetaDto;

  @ApiPropertyOptional({ enum: ['on', 'off'], default: 'on' })
  @IsOptional()
  @IsIn(['on', 'off'])
  state?: 'on' | 'off';

  @ApiPropertyOptional({
    example: 60,
    description: 'Webhook deliveries per minute; the excess is logged rate_limited.',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000)
  rate_limit?: number;
}

export class TemplateTopicDto {
  @ApiProperty({ example: 'approved', description: 'Name to give in `template.topics`.' }) name: string;
  @ApiProperty({ example: 'A large claim was approved' }) description: string;
}

/** A built-in template as `GET /api/v1/subscription-templates` lists it. */
export class SubscriptionTemplateDto {
  @ApiProperty({ example: 'large-claims', description: 'Give it as `template.id`.' }) id: string;
  @ApiProperty({ example: 'Claims above an amount' }) title: string;
  @ApiProperty({ example: 'Claims whose amount is at least min_amount (optionally in one currency).' })
  description: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'JSON Schema that `template.inputs` must satisfy.',
    example: {
      type: 'object',
      properties: {
        min_amount: { type: 'number', minimum: 0 },
        currency: { type: 'string', pattern: '^[A-Z]{3}$', nullable: true },
      },
      required: ['min_amount'],
      additionalProperties: false,
    },
  })
  input_schema: Record<string, unknown>;
  @ApiProperty({ type: [TemplateTopicDto], description: 'Topics to choose from; each expands into rules.' })
  topics: TemplateTopicDto[];
}

/**
 * `/:id`. Not `@IsPrefixedId('wsub')`: this family answers any id it does not hold with 404, a
 * malformed one included (`POST /api/v2/subscriptions/test` does the same for `subscription`), so
 * the id stays opaque here and the lookup decides.
 */
export class SubscriptionParamsDto {
  @ApiProperty({
    example: 'wsub_01jd3m7k2q8w6t5v4x3y2z1a0b',
    description: 'The subscription `id`. One this workspace does not hold, whatever its shape, is a 404.',
  })
  @IsString()
  id: string;
}

export class ChangeStateDto {
  @ApiProperty({ enum: ['on', 'off', 'blocked'] })
  @IsIn(['on', 'off', 'blocked'])
  state: 'on' | 'off' | 'blocked';

  @ApiPropertyOptional({ example: 'Paused during the migration' })
  @IsOptional()
  @IsString()
  @Length(0, 500)
  issue?: string;
}

export class MetaViewDto {
  @ApiProperty({ type: String, nullable: true, example: 'Large approvals to finance' }) title: string | null;
}

/** An action as views show it: header values masked. */
export class ActionViewDto {
  @ApiProperty({ enum: ['webhook', 'socket'] }) type: 'webhook' | 'socket';
  @ApiPropertyOptional({ example: 'https://client.example.com/hooks/herald' }) url?: string;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { authorization: HEADER_VALUE_MASK, 'x-team': HEADER_VALUE_MASK },
    description: `Header names with every value shown as \`${HEADER_VALUE_MASK}\` (write-only).`,
  })
  headers?: Record<string, string>;
  @ApiPropertyOptional({ example: 'finance-dashboard' }) room?: string;
}

export class SubscriptionViewDto {
  @ApiProperty({ example: 'wsub_01jd3m7k2q8w6t5v4x3y2z1a0b' }) id: string;
  @ApiProperty({ example: 'ws_finance' }) workspace_id: string;
  @ApiProperty({ type: TemplateRefDto, nullable: true }) template: TemplateRefDto | null;
  @ApiProperty({ type: [RuleDto] }) rules: RuleDto[];
  @ApiProperty({ type: [String] }) resources: string[];
  @ApiProperty({ type: [ActionViewDto] }) actions: ActionViewDto[];
  @ApiProperty({ type: MetaViewDto }) meta: MetaViewDto;
  @ApiProperty({
    enum: ['on', 'off', 'blocked'],
    description:
      'A subscription that is on shows `blocked`, with an `issue` saying how to resume, when its webhook was blocked by Herald or when it delivers nothing because of who saved it ' +
      '(a credential without events:read, an API key since revoked, or saved before owners were recorded): saving it again records the new credential as its owner.',
  })
  state: 'on' | 'off' | 'blocked';
  @ApiProperty({ type: String, nullable: true, example: null }) issue: string | null;
  @ApiProperty({
    type: 'integer',
    nullable: true,
    example: null,
    description: 'Webhook deliveries per minute; null for no limit.',
  })
  rate_limit: number | null;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class UndeliveredCountsDto {
  @ApiProperty({ example: 12, description: 'Deliveries that failed for good (retries spent or a final answer).' })
  failed: number;
  @ApiProperty({ example: 40, description: 'Matches logged while the subscription was blocked, never sent.' })
  blocked: number;
}

/** `POST /:id/state`: the view, and when a webhook subscription is turned on what it did not deliver. */
export class StateChangedViewDto extends SubscriptionViewDto {
  @ApiPropertyOptional({
    type: UndeliveredCountsDto,
    description:
      'Only when a subscription with a webhook action is turned `on`: how many of its deliveries in the log failed or were blocked. Nothing is resent unasked; ' +
      '`POST /api/v1/subscriptions/:id/recover` requeues them.',
  })
  undelivered?: UndeliveredCountsDto;
}

export class CreatedSubscriptionViewDto extends SubscriptionViewDto {
  @ApiPropertyOptional({
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    description: 'Verifies webhook-signature; returned once, at creation.',
  })
  signing_secret?: string;
}

export class OperationResultDto {
  @ApiProperty({ example: true }) success: boolean;
  @ApiProperty() id: string;
}

class TestMatchDto {
  @ApiProperty({ example: '5f0c2e…' })
  @IsString()
  hash: string;

  @ApiPropertyOptional({ example: 0 })
  @IsOptional()
  @IsInt()
  @Min(0)
  index?: number;
}

class TestSourceDto {
  @ApiPropertyOptional({
    oneOf: [
      { type: 'object', additionalProperties: true },
      { type: 'array', items: { type: 'object', additionalProperties: true } },
    ],
    description: 'A source item, or a list of them (pick one with itemIndex).',
  })
  @IsOptional()
  source?: unknown;

  @ApiPropertyOptional({ example: 0 })
  @IsOptional()
  @IsInt()
  @Min(0)
  itemIndex?: number;

  @ApiPropertyOptional({ type: TestMatchDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => TestMatchDto)
  match?: TestMatchDto;
}

export const SUBSCRIPTION_OR_DRAFT = 'give one of `subscription` or `draft`';

export class TestSubscriptionDto {
  @ApiPropertyOptional({ example: 'wsub_01jd3m7k2q8w6t5v4x3y2z1a0b', description: 'One of subscription or draft.' })
  @ValidateIf((o: TestSubscriptionDto) => o.draft === undefined || o.draft === null)
  @IsPresent(SUBSCRIPTION_OR_DRAFT)
  @IsString()
  subscription?: string;

  @ApiPropertyOptional({ type: SaveSubscriptionDto, description: 'A draft with the same shape as create.' })
  // Absent, it is `subscription`'s rule that speaks (one detail for "neither").
  @ValidateIf((o: TestSubscriptionDto) => o.subscription === undefined && o.draft !== undefined && o.draft !== null)
  @ValidateNested()
  @Type(() => SaveSubscriptionDto)
  draft?: SaveSubscriptionDto;

  @ApiPropertyOptional({ example: 0 })
  @IsOptional()
  @IsInt()
  @Min(0)
  ruleIndex?: number;

  @ApiPropertyOptional({ enum: ['preview', 'send'], default: 'preview' })
  @IsOptional()
  @IsIn(['preview', 'send'])
  mode?: 'preview' | 'send';

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'A raw test event: `{ type, data, user_id, claim_id, … }` or an envelope.',
  })
  @IsOptional()
  @IsObject()
  input?: Record<string, unknown>;

  @ApiPropertyOptional({ type: TestSourceDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => TestSourceDto)
  test?: TestSourceDto;
}

export class AlertHistoryQueryDto {
  @ApiPropertyOptional({ type: 'integer', enum: [50, 100, 250, 500], default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsIn([50, 100, 250, 500], { message: 'limit must be one of 50, 100, 250, 500' })
  limit: number = 50;

  @ApiPropertyOptional({ enum: ['delivered', 'failed', 'rate_limited', 'blocked'] })
  @IsOptional()
  @IsIn(['delivered', 'failed', 'rate_limited', 'blocked'])
  status?: 'delivered' | 'failed' | 'rate_limited' | 'blocked';

  @ApiPropertyOptional({ enum: ['before', 'after'], default: 'before' })
  @IsOptional()
  @IsIn(['before', 'after'])
  direction: 'before' | 'after' = 'before';

  @ApiPropertyOptional({
    format: 'date-time',
    example: '2026-03-26T08:14:22.123456Z',
    description:
      'Cursor: the `created_at` of the last entry of the previous page (RFC 3339 UTC with microseconds, e.g. `2026-03-26T08:14:22.123456Z`), ' +
      'or any RFC 3339 date-time (`2026-03-26T08:14:22Z`, `2026-03-26T10:14:22.5+02:00`). Entries strictly before (`before`) or after (`after`) it are returned.',
  })
  @IsOptional()
  @IsString()
  datetime?: string;
}

/** Which match of the subscription an entry delivers: replay it with `test.match` of the test endpoint. */
export class AlertMatchDto {
  @ApiProperty({ type: 'string', nullable: true, example: '5f0c2e9a1b7d3c4e' }) hash: string | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 0 }) index: number | null;
}

export class SubscriptionAlertLogDto {
  @ApiProperty({ example: 'dlv_01jd3m7k2q8w6t5v4x3y2z1a0b' }) id: string;
  @ApiProperty() subscription_id: string;
  @ApiProperty() event_id: string;
  @ApiProperty({ type: 'integer', nullable: true, example: 0 }) rule_index: number | null;
  @ApiProperty({ type: AlertMatchDto }) match: AlertMatchDto;
  @ApiProperty({ example: 'webhook' }) action: string;
  @ApiProperty({ enum: ['delivered', 'failed', 'rate_limited', 'blocked', 'pending', 'cancelled'] }) status: string;
  @ApiProperty() attempts: number;
  @ApiProperty({ type: 'integer', nullable: true, example: 200 }) response_status: number | null;
  @ApiProperty({ type: 'string', nullable: true, example: null }) error: string | null;
  @ApiProperty({
    format: 'date-time',
    example: '2026-03-26T08:14:22.123456Z',
    description:
      'When the entry was logged: RFC 3339 UTC with microseconds, fixed width, unique within the workspace. Pass it as `datetime` to get the next page.',
  })
  created_at: string;
  @ApiProperty({ type: 'string', format: 'date-time', nullable: true, example: '2026-03-26T08:14:22.310Z' })
  delivered_at: string | null;
  @ApiProperty({ type: 'integer', nullable: true, example: 184 }) duration_ms: number | null;
}

/** A top-level condition an input failed. */
export class FailedConditionDto {
  @ApiProperty({ example: 'data.amount', description: 'The condition’s key: a field path or a logical operator.' })
  path: string;
  @ApiProperty({ ...ANY_JSON, example: { $gte: 1000 }, description: 'The condition as saved.' }) expected: unknown;
  @ApiPropertyOptional({
    ...ANY_JSON,
    example: 500,
    description: 'The value found at `path` in the input; absent for a logical operator or a missing field.',
  })
  actual?: unknown;
}

export class TestRuleResultDto {
  @ApiProperty({ example: 0 }) index: number;
  @ApiProperty({ example: 'claim_approved' }) trigger: string;
  @ApiProperty({
    description: 'Trigger, resources and conditions matched, and the subscription’s owner may read the event.',
  })
  matched: boolean;
  @ApiProperty() trigger_matched: boolean;
  @ApiProperty() resources_matched: boolean;
  @ApiProperty({
    description:
      'The subscription’s owner (whoever saved it last; the caller, for a draft) may read this event: an app or a holder of claims:read:org any event of the organisation, ' +
      'a user only events about itself; nobody without events:read or with a revoked key. Live deliveries follow the same rule.',
  })
  readable: boolean;
  @ApiProperty({ type: [FailedConditionDto] })
  failed_conditions: FailedConditionDto[];
}

export class TestWebhookRequestDto {
  @ApiProperty() url: string;
  @ApiProperty({ example: 'POST' }) method: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: `Headers as sent, with \`${TEST_HEADER}: true\`; values of the action's own headers shown as \`${HEADER_VALUE_MASK}\`.`,
  })
  headers: Record<string, string>;
  @ApiProperty({ description: 'The envelope without `sequence`, with `"test": true`.' }) body: string;
}

/** What a socket action emits. */
export class TestSocketEmitDto {
  @ApiProperty({ example: 'ws:org_001:ws_finance', description: 'The Socket.IO room.' }) room: string;
  @ApiProperty({ example: 'claim_approved', description: 'The event name: the event’s type.' }) event: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'The envelope without `sequence`, with `"test": true`.',
  })
  payload: unknown;
}

/** What the receiver of a sent webhook answered. */
export class TestSendResponseDto {
  @ApiPropertyOptional({ type: 'integer', example: 200, description: 'The HTTP status; absent when none came.' })
  status?: number;
  @ApiPropertyOptional({ example: 'HTTP 500 Internal Server Error', description: 'Why it failed, if it did.' })
  error?: string;
  @ApiPropertyOptional({ type: 'integer', example: 184 }) duration_ms?: number;
}

export class TestActionResultDto {
  @ApiProperty() index: number;
  @ApiProperty({ enum: ['webhook', 'socket'] }) type: 'webhook' | 'socket';
  @ApiPropertyOptional({ type: TestWebhookRequestDto }) request?: TestWebhookRequestDto;
  @ApiPropertyOptional({
    enum: ['throwaway_secret', 'subscription_secret'],
    description:
      'webhook: the secret behind `webhook-signature`. Previews (and drafts) use a throwaway secret made for the call, so they never verify with the subscription’s secret.',
  })
  signed_with?: 'throwaway_secret' | 'subscription_secret';
  @ApiPropertyOptional() note?: string;
  @ApiPropertyOptional({
    type: TestSocketEmitDto,
    description: 'socket: room, event name and payload (the envelope without `sequence`, with `"test": true`).',
  })
  emit?: TestSocketEmitDto;
  @ApiPropertyOptional({ type: TestSendResponseDto, description: 'send: what came back.' })
  response?: TestSendResponseDto;
  @ApiProperty() sent: boolean;
}

export class SubscriptionTestResultDto {
  @ApiProperty({ type: String, nullable: true, description: 'null for a draft.' }) subscription_id: string | null;
  @ApiProperty({ enum: ['preview', 'send'] }) mode: 'preview' | 'send';
  @ApiProperty() matched: boolean;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'The test input as an envelope.' })
  input: EventEnvelope;
  @ApiProperty({ type: [TestRuleResultDto] }) rules: TestRuleResultDto[];
  @ApiProperty({ type: [TestActionResultDto], description: 'Empty unless a rule matched.' })
  actions: TestActionResultDto[];
}
