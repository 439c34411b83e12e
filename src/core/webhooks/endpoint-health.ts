/**
 * When Herald blocks an endpoint by itself (docs/api-contracts.md "Webhook delivery"): every attempt has failed
 * for `blockAfterMs`, or `blockAfterFailures` deliveries in a row have failed for good. The issue
 * text is shown to the subscription's owner, so it names the span, the counts and the last error.
 */

/** The log's `error` for a delivery not sent because its endpoint is blocked, when there is no issue to quote. */
export const NOT_SENT_BLOCKED = 'Subscription is blocked; not sent';

/** The issue a subscription shows while no key opens its signing secret (its deliveries wait). */
export const SECRET_UNREADABLE_ISSUE =
  "Herald cannot read this subscription's signing secret: deliveries are kept and sent once an operator restores its encryption key (HERALD_ENCRYPTION_KEY) or the secret is rotated";

/** The failure streak as stored on the endpoint; a success resets it. */
export interface EndpointHealth {
  /** First failed attempt since the last success. */
  failing_since: string | null;
  failed_attempts: number;
  /** Consecutive deliveries that ended `failed`. */
  failed_deliveries: number;
  last_error: string | null;
}

export interface BlockRules {
  blockAfterMs: number;
  /** 0 turns the count rule off. */
  blockAfterFailures: number;
}

export function formatSpan(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.max(1, Math.round(ms / 1000))} s`;
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  return [days && `${days} d`, hours && `${hours} h`, rest && `${rest} min`].filter(Boolean).join(' ');
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The issue to block with, or undefined while the endpoint may keep trying. */
export function blockIssue(health: EndpointHealth, rules: BlockRules, now: number): string | undefined {
  if (!health.failing_since) return undefined;
  const span = now - Date.parse(health.failing_since);
  const byTime = span >= rules.blockAfterMs;
  const byCount = rules.blockAfterFailures > 0 && health.failed_deliveries >= rules.blockAfterFailures;
  if (!byTime && !byCount) return undefined;
  return (
    `Blocked automatically on ${new Date(now).toISOString()}: every attempt since ${health.failing_since} has failed ` +
    `(${formatSpan(span)}, ${count(health.failed_attempts, 'failed attempt', 'failed attempts')}, ${count(health.failed_deliveries, 'failed delivery', 'failed deliveries')}); ` +
    `last error: ${health.last_error ?? 'unknown'}. Fix the receiver, then turn the subscription on again.`
  );
}

export function goneIssue(now: number): string {
  return `Receiver answered 410 Gone on ${new Date(now).toISOString()}; deliveries stopped. Turn the subscription on again once the URL accepts webhooks.`;
}
