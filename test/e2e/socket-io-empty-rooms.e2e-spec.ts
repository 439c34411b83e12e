import { jest } from '@jest/globals';
import type { Server } from 'socket.io';
import type { Socket } from 'socket.io-client';
import type { ClientEvent } from '../../src/core/gateway/client-events';
import { RealtimeService } from '../../src/core/gateway/realtime.service';
import { mintKey } from '../support/credentials';
import { connectSocket, record, waitFor } from '../support/sockets';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * Every node sees every event of the bus, and most are for rooms with no socket on that node.
 * Socket.IO encodes a broadcast before it looks for recipients, so the node must not emit at all
 * then: the Socket.IO server's encoder is watched while an event goes to an empty room (never
 * called) and to a room with a socket (called, and the socket receives it).
 */
describe('Socket.IO rooms with no socket on this node cost nothing', () => {
  let t: TestApp;
  let socket: Socket;

  beforeAll(async () => {
    t = await startTestApp();
    const key = await mintKey(t, { org: 'org_rooms', user: 'usr_rooms', scopes: ['users.read'] });
    socket = await connectSocket(t.url, key);
  });
  afterAll(async () => {
    socket?.close();
    await t?.close();
  });

  it('encodes only events that some socket here will receive', async () => {
    const realtime = t.app.get(RealtimeService);
    const io = (realtime as unknown as { io: Server }).io;
    const encode = jest.spyOn((io as unknown as { encoder: { encode(p: unknown): unknown } }).encoder, 'encode');
    const event = { type: 'claim_approved', id: 'evt_rooms', data: {} } as unknown as ClientEvent;
    const seen = record(socket, 'claim_approved');

    realtime.emitEventToRooms(['room-with-nobody', 'another-empty-room'], event);
    expect(encode).not.toHaveBeenCalled();

    // Every socket is in the room named by its id.
    realtime.emitEventToRooms(['room-with-nobody', socket.id!], event);
    expect(encode).toHaveBeenCalledTimes(1);
    await waitFor('the event', () => seen.length === 1);
    expect(seen[0].payload).toMatchObject({ id: 'evt_rooms' });
    encode.mockRestore();
  });
});
