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
