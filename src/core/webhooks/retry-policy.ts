import { STATUS_CODES } from 'node:http';
import type { SendResult } from './webhook.types';

export interface RetryPolicy {
  /** Delay before each retry, in order (WEBHOOK_RETRY_SCHEDULE). */
  scheduleMs: readonly number[];
  /** ± fraction applied to each delay, so receivers recovering from an outage are not hit in lockstep. */
  jitter: number;
  maxRetryAfterMs: number;
}

/**
 * What one attempt means for its delivery (docs/api-contracts.md "Webhook delivery"): 2xx delivered; 429, every
 * 5xx, timeouts and network errors are worth another try; 410 Gone also blocks the endpoint;
 * 3xx (redirects are never followed) and other 4xx are the receiver's final answer.
 */
export type AttemptVerdict = 'delivered' | 'retry' | 'fail' | 'gone';

export function verdictOf(result: Pick<SendResult, 'status' | 'permanent'>): AttemptVerdict {
  if (result.permanent) return 'fail';
  const status = result.status;
  if (status === undefined) return 'retry';
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 410) return 'gone';
  if (status === 429 || status >= 500) return 'retry';
  return 'fail';
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Only IMF-fixdate and its obsolete cousins name a weekday or month; `Date.parse` accepts far more.
  if (!/[a-z]{3}/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Delay before the retry that follows attempt number `attemptsMade` (1-based), or undefined when
 * the schedule is spent and the delivery has failed. A receiver's `Retry-After` can push the retry
 * later, up to `maxRetryAfterMs`, but never earlier than the schedule.
 */
export function retryDelay(
  policy: RetryPolicy,
  attemptsMade: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number | undefined {
  const base = policy.scheduleMs[attemptsMade - 1];
  if (base === undefined) return undefined;
  const scheduled = Math.round(base * (1 + policy.jitter * (2 * random() - 1)));
  if (retryAfterMs === undefined) return scheduled;
  return Math.max(scheduled, Math.min(retryAfterMs, policy.maxRetryAfterMs));
}

/** The log's `error` text for an attempt that got an answer other than 2xx. */
export function describeStatus(status: number): string {
  const text = STATUS_CODES[status];
  return text ? `HTTP ${status} ${text}` : `HTTP ${status}`;
}

/**
 * How many first attempts and retries one claim takes, given how many of each are due: half the
 * capacity each, and a share the one kind cannot use goes to the other. A backlog of retries to
 * struggling receivers thus never starves fresh deliveries (docs/api-contracts.md "Webhook delivery").
 */
export function claimShares(
  capacity: number,
  firstDue: number,
  retriesDue: number,
): { first: number; retries: number } {
  const first = Math.min(firstDue, Math.max(Math.ceil(capacity / 2), capacity - retriesDue));
  return { first, retries: Math.min(retriesDue, capacity - first) };
}
