import request from 'supertest';

export interface PublishSpec {
  type?: string;
  id?: string;
  user_id?: string;
  claim_id?: string;
  channel_id?: string;
  organisation_id?: string;
  data?: Record<string, unknown>;
}

/** Publishes one event over the real REST API and returns the response. */
export function publish(url: string, token: string, spec: PublishSpec = {}) {
  return request(url)
    .post('/api/v1/events')
    .set('X-Api-Key', token)
    .send({ type: 'claim_approved', data: {}, ...spec });
}

/** Resolves once the dispatcher (durable routers) has processed the log up to `seq`. */
export async function dispatchedThrough(url: string, seq: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const checkpoint = Number(/^herald_dispatcher_checkpoint (\d+)/m.exec(text)?.[1] ?? 0);
    if (checkpoint >= seq) return;
    if (Date.now() > deadline) throw new Error(`dispatcher did not reach seq ${seq} (at ${checkpoint})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
