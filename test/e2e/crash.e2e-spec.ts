import request from 'supertest';
import { childServerEnv, startChildServer } from '../support/child-server';
import { createTestDatabase } from '../support/test-database';
import { waitFor } from '../support/sockets';

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  if (!match) throw new Error(`metric ${name} missing`);
  return Number(match[1]);
}

describe('crash: kill -9 while publishing', () => {
  it('keeps every acknowledged event exactly once, and the dispatcher resumes from its checkpoint', async () => {
    const database = createTestDatabase();
    const { env, operator } = await childServerEnv(database);
    let server = await startChildServer(env);
    try {
      const acked = new Map<string, number>();
      const uncertain = new Set<string>();
      let stop = false;
      const worker = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const id = `crash-${w}-${i}`;
          try {
            const res = await fetch(`${server.url}/api/v1/events`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'x-api-key': operator },
              body: JSON.stringify({ type: 'status_changed', id, organisation_id: 'org_crash', data: { w, i } }),
            });
            if (res.status === 201) acked.set(id, ((await res.json()) as { seq: number }).seq);
            else uncertain.add(id);
          } catch {
            uncertain.add(id); // in flight when the process died: stored or not, we cannot know
            return;
          }
        }
      };
      const workers = Array.from({ length: 8 }, (_, w) => worker(w));
      await waitFor('200 acknowledged events', () => acked.size >= 200, 30_000);
      await server.kill9();
      stop = true;
      await Promise.all(workers);

      server = await startChildServer(env);

      // A producer retries what it could not confirm; idempotency makes that safe.
      for (const id of uncertain) {
        const [w, i] = id.split('-').slice(1).map(Number);
        const res = await request(server.url)
          .post('/api/v1/events')
          .set('X-Api-Key', operator)
          .send({ type: 'status_changed', id, organisation_id: 'org_crash', data: { w, i } });
        expect([200, 201]).toContain(res.status);
      }

      const stored: { id: string; seq: number }[] = [];
      let after = 0;
      for (;;) {
        const page = await request(server.url)
          .get(`/api/v1/events?after=${after}&limit=1000`)
          .set('X-Api-Key', await orgReader(server.url, operator));
        expect(page.status).toBe(200);
        stored.push(...page.body.data);
        if (!page.body.has_more) break;
        after = page.body.next_after;
      }
      const ids = stored.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const [id, seq] of acked) expect(stored.find((e) => e.id === id)?.seq).toBe(seq);
      expect(ids.length).toBe(acked.size + uncertain.size);

      const head = await metric(server.url, 'herald_event_log_head');
      expect(head).toBe(Math.max(...stored.map((e) => e.seq)));
      await waitFor(
        'dispatcher to catch up after restart',
        async () => (await metric(server.url, 'herald_dispatcher_checkpoint')) === head,
        20_000,
      );
    } finally {
      await server.stop();
      await database.drop();
    }
  });
});

let readerToken: string | undefined;
async function orgReader(url: string, operator: string): Promise<string> {
  if (readerToken) return readerToken;
  const res = await request(url)
    .post('/api/v1/api-keys')
    .set('X-Api-Key', operator)
    .send({ kind: 'app', organisation_id: 'org_crash', scopes: ['events:read'] });
  readerToken = res.body.token as string;
  return readerToken;
}
