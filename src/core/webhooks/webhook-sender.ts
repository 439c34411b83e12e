import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Agent, request, type Dispatcher } from 'undici';
import { APP_CONFIG, type AppConfig } from '../config';
import { guardedLookup, problemBeforeLookup, UndeliverableAddressError } from './ssrf-guard';
import type { SendResult, WebhookRequest } from './webhook.types';

/** Response bodies are read so the connection can be reused; past this it is dropped instead. */
const MAX_RESPONSE_BODY_BYTES = 64 * 1024;
/** How much of a response body the delivery log keeps. */
export const RESPONSE_BODY_KEPT = 4 * 1024;

/**
 * Reads the first RESPONSE_BODY_KEPT bytes of a response body for the log, then discards the rest
 * up to MAX_RESPONSE_BODY_BYTES (past that the connection is dropped). A body that fails or stalls
 * midway keeps what arrived; the status is the answer either way.
 */
async function keepBodyStart(body: Dispatcher.ResponseData['body'], signal: AbortSignal): Promise<string> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let seen = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (keptBytes < RESPONSE_BODY_KEPT) {
        const part = chunk.subarray(0, RESPONSE_BODY_KEPT - keptBytes);
        kept.push(part);
        keptBytes += part.length;
      }
      seen += chunk.length;
      if (seen > MAX_RESPONSE_BODY_BYTES || signal.aborted) break;
    }
  } catch {
    // What arrived is kept.
  } finally {
    // Breaking out of the loop destroys the stream, which closes an oversized response's connection.
    if (!body.destroyed && seen > MAX_RESPONSE_BODY_BYTES) body.destroy();
  }
  // A multi-byte character cut at the limit decodes as U+FFFD, not an exception. NUL, which a
  // binary or compressed body holds and Postgres text cannot store, becomes U+FFFD too: the log
  // line must never be what makes recording an attempt fail.
  return Buffer.concat(kept).toString('utf8').replaceAll('\u0000', '\uFFFD');
}

function errorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

function isRefusal(err: unknown): err is UndeliverableAddressError {
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e instanceof UndeliverableAddressError) return true;
  }
  return false;
}

/**
 * The one HTTP path for webhooks, used by the worker and by one-off test sends. Keep-alive
 * connections through one undici Agent; redirects are never followed (undici's `request` does
 * not follow them), so a 3xx comes back as the answer. Outside development every connection
 * resolves its host through the SSRF guard.
 */
@Injectable()
export class WebhookSender implements OnApplicationShutdown {
  private readonly agent: Agent;
  /** Per cancel signal, the controllers of the requests in flight under it. */
  private readonly inFlight = new WeakMap<AbortSignal, Set<AbortController>>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    const { allowPrivate, connectTimeoutMs } = config.webhooks;
    this.agent = new Agent({
      connect: { timeout: connectTimeoutMs, ...(allowPrivate ? {} : { lookup: guardedLookup() }) },
      keepAliveTimeout: 4_000,
    });
  }

  /**
   * Sends one request and reports what came back; never throws. `cancel` aborts it (shutdown);
   * the total timeout covers connecting, waiting and reading the response.
   */
  async send(req: WebhookRequest, cancel?: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const { allowPrivate, totalTimeoutMs, connectTimeoutMs } = this.config.webhooks;
    const problem = problemBeforeLookup(req.url, allowPrivate);
    if (problem) return { error: problem, permanent: true, duration_ms: 0 };
    // One controller per request rather than AbortSignal.any over the long-lived shutdown signal,
    // which on Node 20 keeps every combined signal alive for as long as the source lives.
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, totalTimeoutMs);
    const untrack = cancel ? this.track(cancel, abort) : undefined;
    const signal = abort.signal;
    try {
      const res = await request(req.url, {
        dispatcher: this.agent,
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal,
      });
      // The status is the answer; a body that is slow or too large does not change it.
      const responseBody = await keepBodyStart(res.body, signal);
      const retryAfter = res.headers['retry-after'];
      return {
        status: res.statusCode,
        ...(responseBody ? { response_body: responseBody } : {}),
        ...(retryAfter !== undefined ? { retry_after: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter } : {}),
        duration_ms: elapsed(),
      };
    } catch (err) {
      if (timedOut) return { error: `Timed out after ${totalTimeoutMs} ms`, duration_ms: elapsed() };
      if (cancel?.aborted) return { error: 'Cancelled: the server is shutting down', duration_ms: elapsed() };
      if (isRefusal(err)) return { error: (err as Error).message, permanent: true, duration_ms: elapsed() };
      const code = errorCode(err);
      if (code === 'UND_ERR_CONNECT_TIMEOUT')
        return { error: `Could not connect within ${connectTimeoutMs} ms`, duration_ms: elapsed() };
      const message = (err as Error)?.message || String(err);
      const error = code && !message.includes(code) ? `${code}: ${message}` : message;
      // A request the client will not even send (e.g. a header value with a line break) fails the same way every time.
      return { error, ...(code === 'UND_ERR_INVALID_ARG' ? { permanent: true } : {}), duration_ms: elapsed() };
    } finally {
      clearTimeout(timer);
      untrack?.();
    }
  }

  /**
   * Ties a request's controller to a cancel signal. The signal (the worker's shutdown signal,
   * shared by every request) gets one listener in all, which aborts whatever is in flight under
   * it. A listener per request would pile up on it, and with more than 10 requests in flight
   * Node prints a MaxListenersExceededWarning, plain text on stderr beside the JSON log.
   */
  private track(cancel: AbortSignal, abort: AbortController): () => void {
    if (cancel.aborted) {
      abort.abort();
      return () => undefined;
    }
    let controllers = this.inFlight.get(cancel);
    if (!controllers) {
      const created = new Set<AbortController>();
      cancel.addEventListener('abort', () => created.forEach((c) => c.abort()), { once: true });
      this.inFlight.set(cancel, (controllers = created));
    }
    controllers.add(abort);
    return () => controllers.delete(abort);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
