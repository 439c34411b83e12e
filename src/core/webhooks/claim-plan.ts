import { claimShares } from './retry-policy';

/**
 * Fair claiming (docs/architecture.md "Isolation": no tenant slows another). The worker does not take the
 * oldest due rows of one global queue, where a backlog at one slow endpoint fills every slot while
 * other organisations wait. It claims in two steps, both decided here without I/O:
 *
 * 1. `planFetch`: of the endpoints with due work, which to read rows for and how many each: only
 *    endpoints under their concurrency cap, at most their free share of it.
 * 2. `pickClaim`: of the rows read, which to lease: first attempts and retries shared as
 *    `claimShares` says, never past an endpoint's free share.
 *
 * Both hand out slots one at a time, round-robin across organisations and then across each
 * organisation's endpoints, always to the organisation (then endpoint) with the fewest requests in
 * flight, counting those of every node and those handed out so far; ties go to whoever has waited
 * longest. A backlog thus never outranks a newcomer, and an organisation with many endpoints gets
 * no more slots than one with a single endpoint while both have work.
 */

/** An endpoint that owes deliveries, as the claim's first query reads it. */
export interface OwingEndpoint {
  endpoint_id: string;
  organisation_id: string;
  /** Its rows under a live lease now, on any node: requests in flight. */
  leased: number;
  /** When its oldest row not under a lease fell (or falls) due; null when every row is leased. */
  oldest: string | null;
}

/** A due row not under a lease, as the claim's second query reads it. */
export interface DueRow {
  id: string;
  endpoint_id: string;
  organisation_id: string;
  attempts: number;
  next_attempt_at: string;
}

export interface FetchPlan {
  /** Endpoints to read due rows for, each with the most rows it may take now. */
  endpoints: { endpoint_id: string; limit: number }[];
  /** Requests in flight now, on any node, per organisation and per endpoint. */
  inFlight: Map<string, number>;
  /** How many more requests each planned endpoint may have in flight. */
  free: Map<string, number>;
  /** An endpoint with due work is already at its cap: a finished request may let more through. */
  atCap: boolean;
}

export interface ClaimPick {
  /** Rows to lease, at most `capacity`, in the order they were handed slots. */
  ids: string[];
  /** An endpoint reached its cap with this pick, so it may have due work left behind. */
  filledEndpoint: boolean;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const orgKey = (organisation: string) => `org:${organisation}`;
const endpointKey = (endpoint: string) => `ep:${endpoint}`;

/** A candidate that can take a slot: `due` breaks ties between equally loaded ones (then `id`). */
interface Candidate {
  organisation: string;
  endpoint: string;
  due: string;
  id: string;
  /** Its keys in the load map, made once: slots are handed out many times over the same candidates. */
  orgKey: string;
  endpointKey: string;
}

/**
 * The candidate with the least load under `keyOf` (only `organisation`'s, when given); ties go to
 * the earlier `due`, then the smaller `tie`, then the first. Compares in place and allocates
 * nothing: it runs for every slot over every candidate.
 */
function leastLoaded<T extends Candidate>(
  candidates: readonly T[],
  load: ReadonlyMap<string, number>,
  keyOf: (c: T) => string,
  tie: (c: T) => string,
  organisation?: string,
): T | undefined {
  let best: T | undefined;
  let bestLoad = 0;
  for (const c of candidates) {
    if (organisation !== undefined && c.organisation !== organisation) continue;
    const l = load.get(keyOf(c)) ?? 0;
    if (
      best === undefined ||
      l < bestLoad ||
      (l === bestLoad && (c.due < best.due || (c.due === best.due && tie(c) < tie(best))))
    ) {
      best = c;
      bestLoad = l;
    }
  }
  return best;
}

/**
 * Chooses who gets the next slot: the organisation with the fewest requests in flight, then its
 * endpoint with the fewest; ties go to the oldest candidate (then the smaller organisation, or id).
 */
function nextSlot<T extends Candidate>(candidates: readonly T[], load: ReadonlyMap<string, number>): T | undefined {
  const org = leastLoaded(
    candidates,
    load,
    (c) => c.orgKey,
    (c) => c.organisation,
  );
  return (
    org &&
    leastLoaded(
      candidates,
      load,
      (c) => c.endpointKey,
      (c) => c.id,
      org.organisation,
    )
  );
}

function addLoad(load: Map<string, number>, c: Candidate): void {
  for (const key of [c.orgKey, c.endpointKey]) load.set(key, (load.get(key) ?? 0) + 1);
}

/**
 * Which endpoints to read rows for. Each due endpoint under its cap has a row to send, so the
 * first `capacity` endpoints the slots would go to are enough to fill them; each may take up to
 * its free share of `endpointCap` (what its leases leave), never more than `capacity`.
 */
export function planFetch(
  owing: readonly OwingEndpoint[],
  now: string,
  capacity: number,
  endpointCap: number,
): FetchPlan {
  const inFlight = new Map<string, number>();
  for (const e of owing) {
    if (!e.leased) continue;
    for (const key of [orgKey(e.organisation_id), endpointKey(e.endpoint_id)])
      inFlight.set(key, (inFlight.get(key) ?? 0) + e.leased);
  }
  let atCap = false;
  const open = new Map<string, Candidate & { left: number }>();
  for (const e of owing) {
    if (e.oldest === null || e.oldest > now) continue;
    const left = endpointCap - e.leased;
    if (left <= 0) atCap = true;
    else
      open.set(e.endpoint_id, {
        organisation: e.organisation_id,
        endpoint: e.endpoint_id,
        due: e.oldest,
        id: e.endpoint_id,
        orgKey: orgKey(e.organisation_id),
        endpointKey: endpointKey(e.endpoint_id),
        left,
      });
  }
  const load = new Map(inFlight);
  const endpoints: FetchPlan['endpoints'] = [];
  const free = new Map<string, number>();
  while (endpoints.length < capacity) {
    const next = nextSlot([...open.values()], load);
    if (!next) break;
    open.delete(next.endpoint);
    addLoad(load, next);
    endpoints.push({ endpoint_id: next.endpoint, limit: Math.min(next.left, capacity) });
    free.set(next.endpoint, next.left);
  }
  return { endpoints, inFlight, free, atCap };
}

/**
 * Which rows to lease: at most `capacity`, at most `plan.free` of each endpoint (one not in the
 * plan gets none), each endpoint's oldest first, first attempts and retries shared as
 * `claimShares` says, every slot to the least loaded organisation, then endpoint.
 */
export function pickClaim(
  rows: readonly DueRow[],
  capacity: number,
  plan: Pick<FetchPlan, 'free' | 'inFlight'>,
): ClaimPick {
  // Per endpoint and kind, the rows it may send, oldest first (its oldest whatever their kind).
  const queued = (row: DueRow) => ({
    organisation: row.organisation_id,
    endpoint: row.endpoint_id,
    due: row.next_attempt_at,
    id: row.id,
    orgKey: orgKey(row.organisation_id),
    endpointKey: endpointKey(row.endpoint_id),
    row,
  });
  type Queued = ReturnType<typeof queued>;
  const queues = new Map<string, { first: Queued[]; retry: Queued[] }>();
  const allowed = new Map<string, number>();
  let firstDue = 0;
  let retriesDue = 0;
  for (const row of [...rows].sort((a, b) => compare(a.next_attempt_at, b.next_attempt_at) || compare(a.id, b.id))) {
    const n = allowed.get(row.endpoint_id) ?? 0;
    if (n >= (plan.free.get(row.endpoint_id) ?? 0)) continue;
    allowed.set(row.endpoint_id, n + 1);
    let queue = queues.get(row.endpoint_id);
    if (!queue) queues.set(row.endpoint_id, (queue = { first: [], retry: [] }));
    if (row.attempts === 0) {
      queue.first.push(queued(row));
      firstDue++;
    } else {
      queue.retry.push(queued(row));
      retriesDue++;
    }
  }
  const share = claimShares(Math.max(0, capacity), firstDue, retriesDue);
  const left = { first: share.first, retry: share.retries };
  const load = new Map(plan.inFlight);
  const picked: DueRow[] = [];
  const perEndpoint = new Map<string, number>();
  // The kinds take turns, so neither waits for the other's whole share.
  for (let turn = 0; left.first + left.retry > 0; turn++) {
    const kind = (turn % 2 === 0 && left.first > 0) || left.retry === 0 ? 'first' : 'retry';
    const heads: Queued[] = [];
    for (const q of queues.values()) if (q[kind].length) heads.push(q[kind][0]);
    const next = nextSlot(heads, load);
    if (!next) {
      left[kind] = 0;
      continue;
    }
    queues.get(next.endpoint)![kind].shift();
    left[kind]--;
    addLoad(load, next);
    picked.push(next.row);
    perEndpoint.set(next.endpoint, (perEndpoint.get(next.endpoint) ?? 0) + 1);
  }
  const filledEndpoint = [...perEndpoint].some(([endpoint, n]) => n >= (plan.free.get(endpoint) ?? 0));
  return { ids: picked.map((r) => r.id), filledEndpoint };
}
