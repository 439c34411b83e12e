import { Type } from 'class-transformer';
import {
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Matches,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { ApiProperty } from '@nestjs/swagger';
import { ApiKeyParamsDto, CreateApiKeyDto } from '../auth/dto/api-key.dto';
import {
  ClaimSubscriptionParamsDto,
  NotificationParamsDto,
  NotifyStatusChangeDto,
} from '../../approval-notifications/dto/notification.dto';
import { ChannelParamsDto, CreateUserChannelDto } from '../../realtime-subscriptions/dto/channel.dto';
import { PublishBatchDto, PublishEventDto } from '../../events/dto/event.dto';
import { WsUnsubscribeDto } from '../../events/ws/ws.dto';
import { SaveSubscriptionDto, TestSubscriptionDto } from '../../workspace-subscriptions/dto/subscription.dto';
import type { FieldError } from './errors';
import { newId } from './ids';
import { createValidationPipe, IsExternalId, IsPrefixedId, IsPresent } from './validation';

class ItemDto {
  @IsString()
  @Length(1, 10)
  name: string;
}

class SampleDto {
  @IsString()
  @Matches(/^[a-z]+$/, { message: 'code must be lowercase letters' })
  code: string;

  @IsOptional()
  @IsInt()
  count?: number;

  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => ItemDto)
  items?: ItemDto[];

  @ValidateIf((o: SampleDto) => o.code === 'pair')
  @IsPresent('$path is required when code is pair')
  @IsIn(['a', 'b'])
  partner?: string;
}

const pipe = createValidationPipe();

/** The body of the 400 the pipe raises for `value` (fails the test when it passes). */
async function rejection(
  metatype: new () => object,
  value: unknown,
  type: 'body' | 'param' = 'body',
): Promise<{ statusCode: number; error: string; message: string; details: FieldError[] }> {
  try {
    await pipe.transform(value, { type, metatype });
  } catch (err) {
    return (err as { getResponse(): Awaited<ReturnType<typeof rejection>> }).getResponse();
  }
  throw new Error(`${JSON.stringify(value)} passed validation`);
}

/** The details of the 400 the pipe raises for `body` (fails the test when it passes). */
async function details(metatype: new () => object, body: unknown): Promise<FieldError[]> {
  return (await rejection(metatype, body)).details;
}

/** What the pipe answers for `value`: the details of its 400, or 'valid'. */
async function outcome(metatype: new () => object, value: unknown): Promise<FieldError[] | 'valid'> {
  try {
    await pipe.transform(value, { type: 'body', metatype });
    return 'valid';
  } catch (err) {
    return (err as { getResponse(): { details: FieldError[] } }).getResponse().details;
  }
}

describe('validation pipe: a missing required field gets one detail', () => {
  it('says "<field> is required" once, instead of every constraint restating it', async () => {
    expect(await details(SampleDto, {})).toEqual([{ field: 'code', message: 'code is required' }]);
    expect(await details(SaveSubscriptionDto, { rules: [{ trigger: 'claim_approved', conditions: {} }] })).toEqual([
      { field: 'resources', message: 'resources is required' },
    ]);
  });

  it('treats null as missing where null is not allowed, and lets optional fields be null', async () => {
    expect(await details(SampleDto, { code: null, count: null })).toEqual([
      { field: 'code', message: 'code is required' },
    ]);
  });

  it('names nested fields by path', async () => {
    expect(await details(SampleDto, { code: 'ok', items: [{ name: 'x' }, {}] })).toEqual([
      { field: 'items[1].name', message: 'items[1].name is required' },
    ]);
    expect(await details(SaveSubscriptionDto, { resources: ['claims/*'], rules: [{ conditions: {} }] })).toEqual([
      { field: 'rules[0].trigger', message: 'rules[0].trigger is required' },
    ]);
    expect(await details(PublishBatchDto, { events: [{ type: 'claim_approved' }] })).toEqual([
      { field: 'events[0].data', message: 'events[0].data is required' },
    ]);
  });

  it('keeps the specific messages of a present but invalid value', async () => {
    expect(await details(SampleDto, { code: 'ABC' })).toEqual([
      { field: 'code', message: 'code must be lowercase letters' },
    ]);
    expect(await details(SampleDto, { code: 'ok', items: [{ name: '' }] })).toEqual([
      { field: 'items[0].name', message: 'name must be longer than or equal to 1 characters' },
    ]);
    expect(
      await details(SaveSubscriptionDto, { rules: [{ trigger: 'claim_approved', conditions: {} }], resources: [] }),
    ).toEqual([{ field: 'resources', message: 'resources must contain at least 1 elements' }]);
  });

  it('leaves array items and unknown fields to their own messages', async () => {
    expect(await details(SampleDto, { code: 'ok', items: [null] })).toEqual([
      { field: 'items[0]', message: 'each value in nested property items must be either object or array' },
    ]);
    expect(await details(SampleDto, { code: 'ok', extra: null })).toEqual([
      { field: 'extra', message: 'unknown field extra is not allowed' },
    ]);
  });

  it('uses the message of @IsPresent, with its path, where a rule needs spelling out', async () => {
    expect(await details(SampleDto, { code: 'pair' })).toEqual([
      { field: 'partner', message: 'partner is required when code is pair' },
    ]);
    expect(await details(SampleDto, { code: 'pair', partner: 'c' })).toEqual([
      { field: 'partner', message: 'partner must be one of the following values: a, b' },
    ]);
    expect(
      await details(SaveSubscriptionDto, {
        resources: ['claims/*'],
        rules: [{ trigger: 'claim_approved', conditions: {} }],
        actions: [{ type: 'webhook' }],
      }),
    ).toEqual([{ field: 'actions[0].url', message: 'actions[0].url is required for a webhook action' }]);
    expect(await details(SaveSubscriptionDto, { resources: ['claims/*'] })).toEqual([
      { field: 'rules', message: 'rules is required unless a template is given' },
    ]);
  });
});

describe('the DTOs: one detail per missing field', () => {
  it('POST /api/v2/subscriptions/test without subscription or draft', async () => {
    expect(await details(TestSubscriptionDto, {})).toEqual([
      { field: 'subscription', message: 'give one of `subscription` or `draft`' },
    ]);
    expect(await details(TestSubscriptionDto, { draft: null, mode: 'preview' })).toEqual([
      { field: 'subscription', message: 'give one of `subscription` or `draft`' },
    ]);
    expect(await details(TestSubscriptionDto, { subscription: 7 })).toEqual([
      { field: 'subscription', message: 'subscription must be a string' },
    ]);
    expect(
      await details(TestSubscriptionDto, { draft: { rules: [{ trigger: 'claim_approved', conditions: {} }] } }),
    ).toEqual([{ field: 'draft.resources', message: 'draft.resources is required' }]);
  });

  it('001, 000, 002 and api keys', async () => {
    expect(await details(WsUnsubscribeDto, {})).toEqual([
      { field: 'client_id', message: 'client_id is required' },
      { field: 'event_types', message: 'event_types is required' },
    ]);
    expect(await details(CreateUserChannelDto, {})).toEqual([{ field: 'user_id', message: 'user_id is required' }]);
    expect(
      await details(NotifyStatusChangeDto, {
        claim_id: 'clm_1',
        new_status: 'approved',
        recipient_user_id: 'usr_1',
        amount: 10,
      }),
    ).toEqual([{ field: 'currency', message: 'currency is required with amount' }]);
    expect(
      await details(NotifyStatusChangeDto, {
        claim_id: 'clm_1',
        new_status: 'approved',
        recipient_user_id: 'usr_1',
        currency: 'NOK',
      }),
    ).toEqual([{ field: 'amount', message: 'amount is required with currency' }]);
    expect(await details(CreateApiKeyDto, { kind: 'user', scopes: [] })).toEqual([
      { field: 'user_id', message: 'user_id is required for a user key' },
    ]);
    expect(await details(CreateApiKeyDto, { kind: 'app' })).toEqual([
      { field: 'scopes', message: 'scopes is required' },
    ]);
    expect(await details(PublishEventDto, {})).toEqual([
      { field: 'type', message: 'type is required' },
      { field: 'data', message: 'data is required' },
    ]);
  });
});

const EXTERNAL = /^[A-Za-z0-9._:-]{1,128}$/;
const EXTERNAL_MESSAGE = 'must be 1-128 characters of letters, digits and ._:-';

/** The decorator stacks the id decorators replaced, kept here to hold the decorators to them. */
class StackedIds {
  @IsOptional()
  @IsString()
  @Matches(EXTERNAL, { message: `claim_id ${EXTERNAL_MESSAGE}` })
  claim_id?: string;

  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @Matches(EXTERNAL, { each: true, message: `each workspace id ${EXTERNAL_MESSAGE}` })
  workspace_ids?: string[];

  @IsOptional()
  @IsString()
  @Matches(/^wsc_[0-9a-z]{26}$/, { message: 'client_id must be a wsc_ id from the welcome frame' })
  client_id?: string;
}

class DecoratedIds {
  @IsOptional()
  @IsExternalId()
  claim_id?: string;

  @IsOptional()
  @IsArray()
  @IsExternalId({ each: true, message: `each workspace id ${EXTERNAL_MESSAGE}` })
  workspace_ids?: string[];

  @IsOptional()
  @IsPrefixedId('wsc', { message: 'client_id must be a wsc_ id from the welcome frame' })
  client_id?: string;
}

class PrefixedIds {
  @IsPrefixedId('chan')
  channel_id: string;

  @IsOptional()
  @IsPrefixedId('evt')
  event_id?: string;

  @ApiProperty({ description: 'Written above the decorator.', example: 'notif_01arz3ndektsv4rrffq69g5fav' })
  @IsOptional()
  @IsPrefixedId('notif')
  notification_id?: string;
}

describe('IsPrefixedId and IsExternalId', () => {
  const chan = newId('chan');

  it('accept the ids Herald issues with their own prefix, and nothing else', async () => {
    expect(await outcome(PrefixedIds, { channel_id: chan, event_id: newId('evt') })).toBe('valid');
    const wrong = [{ field: 'channel_id', message: 'channel_id must be a chan_ id' }];
    for (const channel_id of [
      newId('notif'),
      chan.toUpperCase(),
      chan.slice(0, -1),
      `${chan}0`,
      `chan_${chan.slice(5, -1)}-`,
      'chan_b5c6d7e8',
      ` ${chan}`,
      `${chan}\n`,
      '',
    ])
      expect({ channel_id, details: await outcome(PrefixedIds, { channel_id }) }).toEqual({
        channel_id,
        details: wrong,
      });
  });

  it('say "a"/"an" as the prefix is read, and keep the order of the stacks for a value that is no string', async () => {
    expect(await outcome(PrefixedIds, { channel_id: chan, event_id: 'evt_1' })).toEqual([
      { field: 'event_id', message: 'event_id must be an evt_ id' },
    ]);
    expect(await outcome(PrefixedIds, { channel_id: 7 })).toEqual([
      { field: 'channel_id', message: 'channel_id must be a chan_ id' },
      { field: 'channel_id', message: 'channel_id must be a string' },
    ]);
    expect(await outcome(PrefixedIds, {})).toEqual([{ field: 'channel_id', message: 'channel_id is required' }]);
  });

  it('answer every value exactly as the decorator stacks they replaced', async () => {
    const wsc = newId('wsc');
    const values: unknown[] = [
      'clm_9f2a3b4c',
      'a'.repeat(128),
      'a'.repeat(129),
      '',
      'has space',
      'ünïcode',
      'slash/no',
      7,
      null,
      true,
      ['x'],
      { a: 1 },
      wsc,
      wsc.toUpperCase(),
      'wsc_1',
    ];
    for (const value of values) {
      for (const body of [
        { claim_id: value },
        { client_id: value },
        { workspace_ids: [value] },
        { workspace_ids: ['ok', value, 'bad id'] },
      ]) {
        expect({ body, details: await outcome(DecoratedIds, body) }).toEqual({
          body,
          details: await outcome(StackedIds, body),
        });
      }
    }
  });

  it('document the pattern and an example in Swagger; an @ApiProperty above wins', () => {
    // @nestjs/swagger's metadata key for @ApiProperty (not exported by the package).
    const property = (target: object, key: string) =>
      Reflect.getMetadata('swagger/apiModelProperties', target, key) as Record<string, unknown>;
    expect(property(PrefixedIds.prototype, 'channel_id')).toMatchObject({
      pattern: '^chan_[0-9a-z]{26}$',
      example: 'chan_01jd3m7k2q8w6t5v4x3y2z1a0b',
    });
    expect(property(PrefixedIds.prototype, 'notification_id')).toMatchObject({
      pattern: '^notif_[0-9a-z]{26}$',
      example: 'notif_01arz3ndektsv4rrffq69g5fav',
      description: 'Written above the decorator.',
    });
    expect(property(ChannelParamsDto.prototype, 'channel_id')).toMatchObject({
      pattern: '^chan_[0-9a-z]{26}$',
      description: expect.any(String),
    });
  });
});

describe('the DTOs: id messages', () => {
  it('name the field in the words the stacks used', async () => {
    const ref = (field: string) => ({ field, message: `${field} ${EXTERNAL_MESSAGE}` });
    expect(await details(PublishEventDto, { type: 'claim_approved', data: {}, id: 'a b', user_id: 'u/1' })).toEqual([
      ref('id'),
      ref('user_id'),
    ]);
    // Nested: the field is the path, the message names the property, as before.
    expect(await details(PublishBatchDto, { events: [{ type: 'claim_approved', data: {}, claim_id: '' }] })).toEqual([
      { field: 'events[0].claim_id', message: `claim_id ${EXTERNAL_MESSAGE}` },
    ]);
    expect(await details(CreateUserChannelDto, { user_id: 'usr 1' })).toEqual([ref('user_id')]);
    expect(
      await details(NotifyStatusChangeDto, { claim_id: 'clm_1', new_status: 'approved', recipient_user_id: 5 }),
    ).toEqual([
      ref('recipient_user_id'),
      { field: 'recipient_user_id', message: 'recipient_user_id must be a string' },
    ]);
    expect(
      await details(CreateApiKeyDto, { kind: 'app', organisation_id: 'org 1', workspace_ids: ['ws', 3], scopes: [] }),
    ).toEqual([
      ref('organisation_id'),
      { field: 'workspace_ids', message: `each workspace id ${EXTERNAL_MESSAGE}` },
      { field: 'workspace_ids', message: 'each value in workspace_ids must be a string' },
    ]);
    expect(await details(WsUnsubscribeDto, { client_id: 'wsc_1', event_types: [] })).toEqual([
      { field: 'client_id', message: 'client_id must be a wsc_ id from the welcome frame' },
    ]);
  });
});

describe('the path parameter DTOs', () => {
  it('turn a malformed id into the standard 400 naming the parameter', async () => {
    const cases: [new () => object, string, string][] = [
      [ChannelParamsDto, 'channel_id', 'chan'],
      [NotificationParamsDto, 'notification_id', 'notif'],
      [ClaimSubscriptionParamsDto, 'subscription_id', 'sub'],
      [ApiKeyParamsDto, 'key_id', 'key'],
    ];
    for (const [metatype, field, prefix] of cases) {
      expect(await rejection(metatype, { [field]: 'chan_b5c6d7e8' }, 'param')).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: `Validation failed: ${field}: ${field} must be a ${prefix}_ id`,
        details: [{ field, message: `${field} must be a ${prefix}_ id` }],
      });
      const id = newId(prefix as 'chan');
      await expect(pipe.transform({ [field]: id }, { type: 'param', metatype })).resolves.toEqual({ [field]: id });
    }
  });
});
