import type { Duplex } from 'node:stream';
import { familyForPath, renderProblem, statusText } from './errors';

type ClientError = Error & { code?: string; rawPacket?: Buffer };

/**
 * Requests Node's HTTP parser refuses before any middleware runs (headers or URL over the 16 KiB
 * limit, a malformed request line) would otherwise get a bare status line with no body. This
 * answers them like every other error: JSON, in the envelope of the path's family.
 */
export function answerClientError(err: ClientError, socket: Duplex): void {
  const response = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || response?.headersSent) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message =
    status === 431
      ? 'Request line and headers are larger than the 16 KiB limit'
      : status === 408
        ? 'Request timed out'
        : 'Malformed HTTP request';
  const path = requestPath(err.rawPacket);
  const body = JSON.stringify(renderProblem(familyForPath(path), { status, error: statusText(status), message }, path));
  // Destroyed once the answer is flushed: a half-closed socket whose client keeps sending (a
  // slowloris client still dripping headers) would otherwise stay open. One that never reads is
  // cut off after a second.
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
  setTimeout(() => socket.destroy(), ANSWER_LINGER_MS).unref();
}

const ANSWER_LINGER_MS = 1000;

function requestPath(raw: Buffer | undefined): string {
  const line = raw?.subarray(0, 2048).toString('latin1').split('\r\n', 1)[0] ?? '';
  const target = /^[A-Z]+ (\S+)/.exec(line)?.[1] ?? '/';
  return target.split('?', 1)[0];
}
