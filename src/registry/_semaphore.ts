/**
 * Bounds how many tasks run at once (per registry). Private helper.
 *
 * A task that must wait for something which may itself need a slot of the same semaphore (a
 * blob push whose bytes are read from a repository of the same registry) runs that wait
 * through {@linkcode Slot.outside}: the slot is given back meanwhile and taken again after, so
 * no task ever holds a slot while it waits for another one.
 */
export class Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`Invalid concurrency ${limit}: use an integer of at least 1`);
    }
    this.#free = limit;
  }

  /** Runs `task` when a slot is free; the task may step out of its slot with `slot.outside`. */
  async run<T>(task: (slot: Slot) => Promise<T>): Promise<T> {
    await this.#acquire();
    let held = true;
    const slot: Slot = {
      outside: async <U>(wait: () => Promise<U>): Promise<U> => {
        if (!held) return await wait();
        held = false;
        this.#release();
        try {
          return await wait();
        } finally {
          await this.#acquire();
          held = true;
        }
      },
    };
    try {
      return await task(slot);
    } finally {
      if (held) this.#release();
    }
  }

  #acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

/** A running task's hold on its slot. */
export interface Slot {
  /** Runs `wait` with the slot given back, and takes a slot again before returning. */
  outside<U>(wait: () => Promise<U>): Promise<U>;
}
