// The whole retry policy in one place: transient failures are retried after a random wait
// between min_delay and max_delay (the old wrapper's `sleep $((1 + RANDOM % 60))`), permanent
// ones stop at once so a wrong password is never hammered against a repository.

import { setTimeout as sleep } from 'node:timers/promises';
import pRetry, { AbortError } from 'p-retry';
import type { AttemptOutcome } from './backends/types.ts';
import type { RetryPolicy } from './config.ts';

class FailedAttempt extends Error {
  constructor(readonly outcome: AttemptOutcome) {
    super(outcome.reason);
  }
}

export interface RetryHooks {
  signal?: AbortSignal;
  /** Called before each wait; `nextAttempt` is 2 for the first retry. */
  onRetry?: (outcome: AttemptOutcome, nextAttempt: number, delayMs: number) => void;
  random?: () => number;
}

export interface RetriedOutcome {
  outcome: AttemptOutcome;
  attempts: number;
}

export const drawDelay = (policy: RetryPolicy, random: () => number = Math.random): number =>
  Math.round(policy.minDelayMs + random() * (policy.maxDelayMs - policy.minDelayMs));

export const runWithRetries = async (
  attempt: (attemptNumber: number) => Promise<AttemptOutcome>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<RetriedOutcome> => {
  let attempts = 0;
  try {
    const outcome = await pRetry(
      async (attemptNumber) => {
        // Checked here rather than handed to p-retry, which would reject at once on abort while
        // the attempt's engine is still stopping: the caller must not go on (and release the
        // job lock) before the engine is gone.
        if (hooks.signal?.aborted) throw new AbortError(new Error(String(hooks.signal.reason)));
        attempts = attemptNumber;
        let result: AttemptOutcome;
        try {
          result = await attempt(attemptNumber);
        } catch (error) {
          // Only outcomes the backend classified as transient are retried; anything it threw
          // (a failing password_command, a bug) ends the run and is reported as it is.
          throw new AbortError(error as Error);
        }
        if (result.kind === 'transient') throw new FailedAttempt(result);
        if (result.kind === 'permanent') throw new AbortError(new FailedAttempt(result));
        return result;
      },
      {
        retries: policy.attempts - 1,
        // p-retry's own exponential wait is switched off; the uniform draw below replaces it.
        minTimeout: 0,
        maxTimeout: 0,
        factor: 1,
        onFailedAttempt: async (error) => {
          if (!(error instanceof FailedAttempt) || error.retriesLeft === 0) return;
          const delay = drawDelay(policy, hooks.random);
          hooks.onRetry?.(error.outcome, error.attemptNumber + 1, delay);
          await sleep(delay, undefined, { signal: hooks.signal });
        },
      },
    );
    return { outcome, attempts };
  } catch (error) {
    if (error instanceof FailedAttempt) return { outcome: error.outcome, attempts };
    throw error;
  }
};
