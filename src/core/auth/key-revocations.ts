import type { EventBus, Unsubscribe } from '../bus/event-bus';

/** Published on the bus once a key's revocation has committed; every node hears it. */
export const API_KEY_REVOKED_TOPIC = 'api-keys.revoked';

export interface ApiKeyRevoked {
  key_id: string;
  token_hash: string;
}

/** The reason connections opened with a revoked key are closed with. */
export const API_KEY_REVOKED_REASON = 'API key revoked';

/**
 * Runs `handler` on this node for every key revoked on any node, so whoever holds connections
 * (Socket.IO sockets, raw WebSockets) can close the ones that key opened: they were
 * authenticated once, at the handshake, and would otherwise outlive the key.
 */
export function onApiKeyRevoked(bus: EventBus, handler: (revoked: ApiKeyRevoked) => void): Unsubscribe {
  return bus.on(API_KEY_REVOKED_TOPIC, (message) => {
    const revoked = message as Partial<ApiKeyRevoked> | null;
    if (typeof revoked?.key_id === 'string') handler(revoked as ApiKeyRevoked);
  });
}
