import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';

/**
 * A paused process, in-process: calls that pass a shut gate wait there, unanswered, and carry on
 * from where they were once it reopens — as everything a node runs does across SIGSTOP/SIGCONT,
 * while its database sessions stay open. `waiting` counts the calls held right now.
 */
export class Gate {
  waiting = 0;
  private opened: Promise<void> = Promise.resolve();
  private open?: () => void;

  shut(): void {
    this.opened = new Promise((resolve) => (this.open = resolve));
  }

  reopen(): void {
    this.open?.();
  }

  async pass(): Promise<void> {
    this.waiting++;
    try {
      await this.opened;
    } finally {
      this.waiting--;
    }
  }
}

/**
 * Holds every call of `object[method]` at `gate` (those `when` picks, if given) before it runs.
 * Returns the promises of the held calls, so a test can see how each one ended.
 */
export function holdCalls<T extends object, K extends keyof T>(
  object: T,
  method: K,
  gate: Gate,
  when: (args: unknown[]) => boolean = () => true,
): Promise<unknown>[] {
  const real = object[method] as (...args: unknown[]) => Promise<unknown>;
  const held: Promise<unknown>[] = [];
  // jest's typings cannot follow a method picked by a key type parameter.
  (jest.spyOn as (o: object, m: string) => { mockImplementation(f: (...args: unknown[]) => unknown): void })(
    object,
    method as string,
  ).mockImplementation(function (this: unknown, ...args: unknown[]) {
    if (!when(args)) return real.apply(this, args);
    const call = gate.pass().then(() => real.apply(this, args));
    held.push(call);
    return call;
  });
  return held;
}

export interface LogLine {
  level: 'log' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

/**
 * Records what Nest loggers (`new Logger(context)`) write from now on, whatever LOG_LEVEL says.
 * Several apps in one process share these, so a line is told apart by its fields.
 */
export function captureLogs(): { lines: LogLine[]; restore(): void } {
  const lines: LogLine[] = [];
  const spies = (['log', 'warn', 'error'] as const).map((level) => {
    const real = Logger.prototype[level] as (...args: unknown[]) => void;
    return jest.spyOn(Logger.prototype, level).mockImplementation(function (this: Logger, ...args: unknown[]) {
      const [first, second] = args;
      if (typeof first === 'object' && first !== null && typeof second === 'string')
        lines.push({ level, message: second, fields: first as Record<string, unknown> });
      else if (typeof first === 'string') lines.push({ level, message: first, fields: {} });
      real.apply(this, args);
    });
  });
  return {
    lines,
    restore: () => spies.forEach((s) => s.mockRestore()),
  };
}
