/**
 * A job that never runs alongside itself. Calling it while a run is in flight starts nothing
 * and returns that run: a timer tick that comes while the previous tick's database work is
 * still waiting (on a lock, on a slow server) is skipped, instead of taking one more pool
 * connection each tick until the pool is gone. So each periodic job holds at most one
 * connection of the pool at a time, whatever the database does. The periodic jobs are the
 * channel cursor flush and attachment heartbeat (ChannelAttachments), event retention (EventLog),
 * delivery-log retention (DeliveryWorker), the live catch-up check (LiveFanout) and the
 * socket-action cache reload (SubscriptionsService): six connections at most, out of
 * DATABASE_POOL_SIZE (10 by default); the dispatcher and the webhook claim loop are loops that
 * await each pass, one connection each.
 *
 * `fresh()` is for a caller that needs the job's effect as of now (a detach must store the
 * cursor it just moved): it waits for a run that *starts* after the call. Callers arriving
 * while a run is in flight share one follow-up run, so they add at most one more run, never a
 * run each.
 *
 * The job must not reject when driven from a timer (a rejection there would be unhandled);
 * whatever it rejects with is passed to the callers that awaited it.
 */
export interface NonOverlapping {
  (): Promise<void>;
  fresh(): Promise<void>;
  /** Settles once no run is in flight or queued (for shutdown). */
  idle(): Promise<void>;
}

export function nonOverlapping(job: () => Promise<void>): NonOverlapping {
  let current: Promise<void> | undefined;
  let followUp: Promise<void> | undefined;

  const start = (): Promise<void> => {
    const run: Promise<void> = Promise.resolve()
      .then(job)
      .finally(() => {
        if (current === run) current = undefined;
      });
    current = run;
    return run;
  };

  const tick = (() => current ?? start()) as NonOverlapping;
  tick.fresh = () => {
    if (!current) return start();
    followUp ??= current
      .catch(() => undefined)
      .then(() => {
        followUp = undefined;
        // A run someone started after our call (and after the one we waited for) covers us too.
        return current ?? start();
      });
    return followUp;
  };
  tick.idle = async () => {
    while (current || followUp) await (followUp ?? current)!.catch(() => undefined);
  };
  return tick;
}
