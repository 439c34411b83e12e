import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EventBus, type Unsubscribe } from '../bus/event-bus';
import { APP_CONFIG, type AppConfig } from '../config';
import { Database, type Tx } from '../database/database.service';
import { GroupCommit } from '../database/group-commit';
import { schemaLockKey } from '../database/lock-keys';
import { nonOverlapping } from '../database/periodic';
import { isoNow, toIso } from '../http/time';
import { pickClaim, planFetch } from './claim-plan';
import { ClaimLockBusy, DeliveryStore, type Completion, type LeasedDelivery } from './delivery.store';
import { blockIssue, goneIssue, NOT_SENT_BLOCKED } from './endpoint-health';
import { EndpointStore } from './endpoint.store';
import { describeStatus, parseRetryAfter, retryDelay, verdictOf } from './retry-policy';
import { HEADER_VALUE_MASK, signedRequest } from './webhook-request';
import { UNKNOWN_KIND, WebhookMetrics } from './webhook-metrics';
import { WebhookSender } from './webhook-sender';
import type { AttemptOutcome, SendResult, WebhookEndpoint, WebhookRequest } from './webhook.types';

/** A claimed row is this node's for the longest an attempt can take plus this margin; then any node may retry it. */
const LEASE_MARGIN_MS = 60_000;
/**
 * A lease counts against its endpoint's cap only while its request can still be open: until the
 * sender's total timeout has passed since it was taken, plus this for recording the result. So a
 * node that dies mid-request holds up its endpoint's other deliveries that long, not until the
 * lease runs out (the leased rows themselves still wait for that).
 */
const IN_FLIGHT_SLACK_MS = 1_000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/** How long deliveries to an endpoint whose secret cannot be opened wait before they are looked at again. */
const UNREADABLE_SECRET_WAIT_MS = 60_000;
/** Longest a claim waits for another node's claim to finish before skipping a turn. */
const CLAIM_LOCK_WAIT_MS = 1_000;

/** The bus topic on which a node says it committed deliveries that are owed now. */
const OWED_TOPIC = 'webhooks.owed';
/** Shortest time between two such notices from one node. */
const OWED_NOTICE_MS = 20;
/**
 * Most finished attempts written together. Equal to the store's COMPLETE_CHUNK, so a delivered
 * group on Postgres is always one statement (`recordDelivered`).
 */
const RECORD_GROUP_MAX = 200;

interface Job {
  delivery: LeasedDelivery;
  endpoint: WebhookEndpoint;
}

/** An attempt that has its answer, waiting to be written. */
interface Finished extends Job {
  request: WebhookRequest;
  result: SendResult;
  completion: Completion;
  outcome: AttemptOutcome;
}

/**
 * Works off the delivery queue on every node (docs/architecture.md "The one data flow"). A claim leases
 * due rows in one short transaction; the HTTP request runs outside any transaction (on SQLite the
 * database mutex is never held across I/O); the result is written afterwards, in groups. A node that
 * dies mid-request loses its leases after `totalTimeoutMs + 60 s` and another node retries the
 * row under the same `webhook-id`, so receivers can drop the duplicate.
 *
 * Claims are fair (see `claim-plan.ts`): each endpoint has at most WEBHOOK_ENDPOINT_CONCURRENCY
 * requests in flight across the whole cluster (a claim counts the endpoint's leased rows, with
 * claims serialised on Postgres by an advisory lock), and free slots are shared round-robin
 * across organisations, then endpoints, so one slow receiver cannot hold up anyone else's.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('DeliveryWorker');
  private running = false;
  private loop?: Promise<void>;
  private wakeUp?: () => void;
  /** A wake-up that came while the loop was busy claiming must not be lost. */
  private woken = false;
  /**
   * Set by `announce`: this node has just committed work that is owed now, so the next claim
   * goes straight ahead, as it does after a claim that left due work behind (`saturated`). Any
   * other wake-up (another node's notice, the poll) first asks whether anything is claimable:
   * usually the committing node has leased it already.
   */
  private committedHere = false;
  /**
   * Set when the last claim left due work behind (every slot taken, or an endpoint at its cap):
   * a finished request then frees a slot for it at once.
   */
  private saturated = false;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly cancel = new AbortController();
  private pruneTimer?: NodeJS.Timeout;
  private readonly claimLock: number;
  /** This worker, to tell its own notices on the bus from other nodes'. */
  private readonly id = randomUUID();
  private noticeTimer?: NodeJS.Timeout;
  private lastNotice = 0;
  private unsubscribe?: Unsubscribe;
  /** Finished attempts are written in groups (see `record`). */
  private readonly results = new GroupCommit<Finished, boolean>((f) => this.record(f), RECORD_GROUP_MAX);

  constructor(
    private readonly db: Database,
    private readonly deliveries: DeliveryStore,
    private readonly endpoints: EndpointStore,
    private readonly sender: WebhookSender,
    private readonly metrics: WebhookMetrics,
    private readonly bus: EventBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.claimLock = schemaLockKey('webhook-claim', config.database.schema);
  }

  onApplicationBootstrap(): void {
    this.running = true;
    this.unsubscribe = this.bus.on(OWED_TOPIC, (m) => {
      // With every slot taken there is nothing to claim for; a finished group wakes the loop anyway.
      if ((m as { from?: string }).from !== this.id && this.inFlight.size < this.config.webhooks.concurrency)
        this.wake();
    });
    this.loop = this.run();
    // Never two prunes at once (a slow one is still running at the next tick): one pool connection at most.
    const prune = nonOverlapping(() =>
      this.prune().then(
        (n) => void (n && this.logger.log({ pruned: n }, 'pruned webhook deliveries past retention')),
        (err) => this.logger.warn({ err }, 'webhook delivery pruning failed'),
      ),
    );
    void prune();
    this.pruneTimer = setInterval(() => void prune(), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  /** Stops claiming and lets requests in flight finish (within the shutdown grace) while the database is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    const pending = [...this.inFlight.values()];
    if (!pending.length) return;
    const grace = Math.min(this.config.shutdownGraceMs, this.config.webhooks.totalTimeoutMs + 1000);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, grace)));
    await Promise.race([Promise.all(pending), timedOut]);
    clearTimeout(timer);
    if (this.inFlight.size) {
      this.cancel.abort();
      await Promise.all(this.inFlight.values());
    }
  }

  onApplicationShutdown(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    if (this.noticeTimer) clearTimeout(this.noticeTimer);
    this.unsubscribe?.();
  }

  /**
   * New work was committed on this node: this node's worker looks now instead of at the next
   * poll, and so, through the bus, do the other nodes' (at most one message per OWED_NOTICE_MS
   * from each node; a lost one only means waiting for the poll).
   */
  announce(): void {
    this.committedHere = true;
    this.wake();
    if (!this.bus.distributed || this.noticeTimer) return;
    const wait = Math.max(0, this.lastNotice + OWED_NOTICE_MS - Date.now());
    this.noticeTimer = setTimeout(() => {
      this.noticeTimer = undefined;
      this.lastNotice = Date.now();
      this.bus.publish(OWED_TOPIC, { from: this.id });
    }, wait);
    this.noticeTimer.unref();
  }

  private wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    const { concurrency, pollMs } = this.config.webhooks;
    while (this.running) {
      this.woken = false;
      const committedHere = this.committedHere;
      this.committedHere = false;
      const free = concurrency - this.inFlight.size;
      let claimed = 0;
      let leftBehind = false;
      if (free > 0) {
        try {
          if (committedHere || this.saturated || (await this.deliveries.anyClaimableAcrossTenants(isoNow()))) {
            const { jobs, capped } = await this.claim(free);
            claimed = jobs.length;
            leftBehind = capped;
            for (const job of jobs) this.start(job);
          }
        } catch (err) {
          if (!this.running) break;
          this.logger.error({ err }, 'claiming webhook deliveries failed; retrying');
        }
      }
      this.saturated = claimed >= free || leftBehind;
      if (claimed < free || free <= 0) await this.sleep(pollMs);
      // SQLite answers synchronously; let the rest of the server run between claims.
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Leases up to `capacity` due rows, fairly across organisations and endpoints and within each
   * endpoint's cap, first attempts and retries side by side (see `claim-plan.ts`). `capped` says
   * an endpoint with due work is at its cap, so a finished request should trigger another claim.
   */
  private async claim(capacity: number): Promise<{ jobs: Job[]; capped: boolean }> {
    const { totalTimeoutMs, endpointConcurrency } = this.config.webhooks;
    const claimed = this.db.transaction(async (m) => {
      await this.deliveries.lockClaims(m, this.claimLock, CLAIM_LOCK_WAIT_MS);
      // Read the clock once the lock is held, so leases that ran out while waiting for it count as free.
      const now = isoNow();
      const leaseUntil = toIso(Date.now() + totalTimeoutMs + LEASE_MARGIN_MS);
      const inFlightAfter = toIso(Date.now() + LEASE_MARGIN_MS - IN_FLIGHT_SLACK_MS);
      const plan = planFetch(
        await this.deliveries.owingEndpointsAcrossTenants(m, now, inFlightAfter),
        now,
        capacity,
        endpointConcurrency,
      );
      const pick = pickClaim(await this.deliveries.dueRowsAcrossTenants(m, plan.endpoints, now), capacity, plan);
      const leased = await this.deliveries.lease(m, pick.ids, now, leaseUntil);
      const endpoints = await this.endpoints.findAcrossTenants(
        m,
        leased.map((d) => d.endpoint_id),
      );

      // Rows whose endpoint went away or stopped sending are settled here instead of sent.
      const jobs: Job[] = [];
      const blocked: string[] = [];
      const cancelled: string[] = [];
      // Owed to an endpoint whose secret no key opens: kept, and looked at again later.
      const waiting: string[] = [];
      // Owner kinds of the rows settled here, for the deliveries counter.
      const settledKinds = { blocked: new Map<string, number>(), cancelled: new Map<string, number>() };
      for (const delivery of leased) {
        const endpoint = endpoints.get(delivery.endpoint_id);
        if (endpoint?.state === 'on') {
          if (endpoint.secret_unreadable) waiting.push(delivery.id);
          else jobs.push({ delivery, endpoint });
          continue;
        }
        const status = endpoint?.state === 'blocked' ? 'blocked' : 'cancelled';
        (status === 'blocked' ? blocked : cancelled).push(delivery.id);
        const kind = endpoint?.kind ?? UNKNOWN_KIND;
        settledKinds[status].set(kind, (settledKinds[status].get(kind) ?? 0) + 1);
      }
      await this.deliveries.postpone(m, waiting, toIso(Date.now() + UNREADABLE_SECRET_WAIT_MS));
      await this.deliveries.settle(m, { ids: blocked }, 'blocked', NOT_SENT_BLOCKED, now);
      await this.deliveries.settle(
        m,
        { ids: cancelled },
        'cancelled',
        'Subscription was removed or turned off before delivery',
        now,
      );
      for (const status of ['blocked', 'cancelled'] as const)
        for (const [kind, n] of settledKinds[status]) this.metrics.settled(status, n, kind);
      return { jobs, capped: plan.atCap || pick.filledEndpoint };
    });
    return claimed.catch((err) => {
      if (!(err instanceof ClaimLockBusy)) throw err;
      this.logger.debug('another node has held the claim lock too long; claiming again at the next wake-up');
      return { jobs: [], capped: false };
    });
  }

  private start(job: Job): void {
    const work = this.attempt(job)
      .catch((err) =>
        this.logger.error(
          { err, delivery: job.delivery.id },
          'recording a webhook attempt failed; the row is retried after its lease',
        ),
      )
      .finally(() => {
        // A row leased again after its lease ran out has a newer entry; that one is not ours to drop.
        if (this.inFlight.get(job.delivery.id) === work) this.inFlight.delete(job.delivery.id);
        if (this.saturated) this.wake();
      });
    this.inFlight.set(job.delivery.id, work);
  }

  private async attempt({ delivery, endpoint }: Job): Promise<void> {
    const request = signedRequest(endpoint, delivery.id, delivery.body, new Date());
    const result = await this.sender.send(request, this.cancel.signal);
    if (this.cancel.signal.aborted) {
      await this.deliveries.releaseLease(delivery.id, delivery.lease_until);
      return;
    }
    const completion = this.completion(delivery, result);
    const outcome: AttemptOutcome =
      completion.status === 'delivered' ? 'delivered' : completion.status === 'pending' ? 'retrying' : 'failed';
    const recorded = await this.results.add({ delivery, endpoint, request, result, completion, outcome });
    if (!recorded) return;
    this.metrics.attempt(outcome, result.duration_ms);
    this.metrics.settled(completion.status, 1, endpoint.kind);
    // Once per delivery, when it is given up for good (retries spent or a final answer), never per
    // retry: the one line an operator needs to find the receiver and the event that did not arrive.
    if (outcome === 'failed')
      this.logger.warn(
        {
          endpoint: endpoint.id,
          kind: endpoint.kind,
          delivery: delivery.id,
          event: eventIdOf(delivery.body),
          attempts: completion.attempts,
          response_status: completion.response_status,
          error: completion.error,
        },
        'webhook delivery gave up',
      );
  }

  /**
   * Writes a group of finished attempts together: every result whose lease still holds in one
   * UPDATE, their attempts in one INSERT, the endpoints' success in one UPDATE, in one transaction
   * (on Postgres, a group that was all delivered is one statement); failures each update their
   * endpoint's streak (and may block it). Answers, per attempt, whether it was recorded.
   */
  private async record(all: Finished[]): Promise<boolean[]> {
    // A row whose lease ran out while its result waited here, and that this node leased again, can
    // be in the group twice: only the newest lease's result can be recorded.
    const newest = new Map<string, Finished>();
    for (const f of all) {
      const seen = newest.get(f.delivery.id);
      if (!seen || f.delivery.lease_until > seen.delivery.lease_until) newest.set(f.delivery.id, f);
    }
    const finished = [...newest.values()];
    const results = await this.recordGroup(finished);
    const recorded = new Set(finished.filter((_, i) => results[i]));
    return all.map((f) => recorded.has(f));
  }

  private async recordGroup(finished: Finished[]): Promise<boolean[]> {
    try {
      return await this.recordTogether(finished);
    } catch (err) {
      if (finished.length === 1) throw err;
      // A deadlock, a timeout or one row the database refuses must not cost the whole group: each
      // on its own, so only what fails again waits for its lease to run out (and is sent again).
      this.logger.warn(
        { err, results: finished.length },
        'writing a group of webhook results failed; writing them one by one',
      );
      const one = async (f: Finished): Promise<boolean> => {
        try {
          return (await this.recordTogether([f]))[0];
        } catch (oneErr) {
          this.logger.error(
            { err: oneErr, delivery: f.delivery.id },
            'recording a webhook attempt failed; the row is retried after its lease',
          );
          return false;
        }
      };
      const results: boolean[] = [];
      for (const f of finished) results.push(await one(f));
      return results;
    }
  }

  private async recordTogether(finished: Finished[]): Promise<boolean[]> {
    // The usual group, all delivered, is one statement on Postgres: no transaction to open.
    if (this.db.isPostgres && finished.every((f) => f.outcome === 'delivered')) {
      const recorded = await this.db.read((m) =>
        this.deliveries.recordDelivered(
          m,
          finished.map(({ delivery, endpoint, request, result, completion }) => ({
            id: delivery.id,
            lease: delivery.lease_until,
            completion,
            request_headers: loggedHeaders(request.headers, endpoint.headers),
            response_body: result.response_body ?? null,
            endpoint: { organisation_id: endpoint.organisation_id, id: endpoint.id },
          })),
        ),
      );
      return finished.map((f) => recorded.has(f.delivery.id));
    }
    return this.db.transaction(async (m) => {
      const recorded = await this.deliveries.complete(
        m,
        finished.map((f) => ({ id: f.delivery.id, lease: f.delivery.lease_until, completion: f.completion })),
      );
      const kept = finished.filter((f) => recorded.has(f.delivery.id));
      await this.deliveries.addAttempts(
        m,
        kept.map(({ delivery, endpoint, request, result, completion, outcome }) => ({
          delivery_id: delivery.id,
          attempt: {
            attempt: completion.attempts,
            outcome,
            response_status: completion.response_status,
            error: completion.error,
            duration_ms: result.duration_ms,
            attempted_at: completion.at,
            request_headers: loggedHeaders(request.headers, endpoint.headers),
            response_body: result.response_body ?? null,
          },
        })),
      );
      const endpointOf = (f: Finished) => ({ organisation_id: f.endpoint.organisation_id, id: f.endpoint.id });
      if (kept.every((f) => f.outcome === 'delivered')) await this.endpoints.recordSuccesses(m, kept.map(endpointOf));
      else {
        // A streak depends on the order of its endpoint's successes and failures: in the order they
        // finished, endpoint by endpoint in one fixed order, so two nodes never lock endpoints in
        // opposite orders.
        const byEndpoint = new Map<string, Finished[]>();
        for (const f of kept) {
          const key = `${f.endpoint.organisation_id}\u0000${f.endpoint.id}`;
          const items = byEndpoint.get(key);
          if (items) items.push(f);
          else byEndpoint.set(key, [f]);
        }
        for (const key of [...byEndpoint.keys()].sort())
          for (const f of byEndpoint.get(key)!)
            if (f.outcome === 'delivered') await this.endpoints.recordSuccesses(m, [endpointOf(f)]);
            else await this.recordFailure(m, f);
      }
      return finished.map((f) => recorded.has(f.delivery.id));
    });
  }

  /** Adds a failed attempt to its endpoint's streak, and blocks the endpoint when the streak (or a 410) says so. */
  private async recordFailure(m: Tx, { endpoint, result, completion, outcome }: Finished): Promise<void> {
    const health = await this.endpoints.recordFailure(m, endpoint.organisation_id, endpoint.id, {
      at: completion.at,
      error: completion.error!,
      deliveryFailed: outcome === 'failed',
    });
    const issue = !health
      ? undefined
      : result.status === 410
        ? goneIssue(Date.now())
        : blockIssue(health, this.config.webhooks, Date.now());
    if (!issue) return;
    await this.endpoints.setState(m, endpoint.organisation_id, endpoint.id, 'blocked', issue, completion.at);
    await this.deliveries.settle(
      m,
      { organisation_id: endpoint.organisation_id, endpoint_id: endpoint.id, now: completion.at },
      'blocked',
      issue,
      completion.at,
    );
    this.logger.warn({ endpoint: endpoint.id, issue }, 'webhook endpoint blocked');
  }

  private completion(delivery: LeasedDelivery, result: SendResult): Completion {
    const at = isoNow();
    const attempts = delivery.attempts + 1;
    const base = { attempts, response_status: result.status ?? null, duration_ms: result.duration_ms, at };
    const verdict = verdictOf(result);
    if (verdict === 'delivered')
      return { ...base, status: 'delivered', error: null, delivered_at: at, next_attempt_at: null };
    const error = result.error ?? describeStatus(result.status!);
    const delay =
      verdict === 'retry'
        ? retryDelay(this.retryPolicy, attempts - delivery.retry_base, parseRetryAfter(result.retry_after))
        : undefined;
    if (delay === undefined) return { ...base, status: 'failed', error, delivered_at: null, next_attempt_at: null };
    return { ...base, status: 'pending', error, delivered_at: null, next_attempt_at: toIso(Date.now() + delay) };
  }

  private get retryPolicy() {
    const { retryScheduleMs, retryJitter, maxRetryAfterMs } = this.config.webhooks;
    return { scheduleMs: retryScheduleMs, jitter: retryJitter, maxRetryAfterMs };
  }

  private prune(): Promise<number> {
    return this.deliveries.pruneAcrossTenants(toIso(Date.now() - this.config.webhooks.deliveryRetentionMs));
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

/** What the delivery log keeps of a request's headers: the values of the subscription's own extra headers are write-only. */
export function loggedHeaders(sent: Record<string, string>, extra: Record<string, string>): Record<string, string> {
  const own = new Set(Object.keys(extra).map((name) => name.toLowerCase()));
  const logged: Record<string, string> = {};
  for (const [name, value] of Object.entries(sent)) logged[name] = own.has(name) ? HEADER_VALUE_MASK : value;
  return logged;
}

/** The event id from a delivery's body (the event envelope); read only when a delivery gives up. */
function eventIdOf(body: string): string | null {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}
