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
import { CreateApiKeyDto } from '../auth/dto/api-key.dto';
import { NotifyStatusChangeDto } from '../../approval-notifications/dto/notification.dto';
import { CreateUserChannelDto } from '../../realtime-subscriptions/dto/channel.dto';
import { PublishBatchDto, PublishEventDto } from '../../events/dto/event.dto';
import { WsUnsubscribeDto } from '../../events/ws/ws.dto';
import { SaveSubscriptionDto, TestSubscriptionDto } from '../../workspace-subscriptions/dto/subscription.dto';
import type { FieldError } from './errors';
import { createValidationPipe, IsPresent } from './validation';

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

/** The details of the 400 the pipe raises for `body` (fails the test when it passes). */
async function details(metatype: new () => object, body: unknown): Promise<FieldError[]> {
  try {
    await pipe.transform(body, { type: 'body', metatype });
  } catch (err) {
    const response = (err as { getResponse(): { details: FieldError[] } }).getResponse();
    return response.details;
  }
  throw new Error(`${JSON.stringify(body)} passed validation`);
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
