import assert from "node:assert/strict";
import { Semaphore } from "../../src/registry/_semaphore.ts";

Deno.test("Semaphore: a task waiting outside its slot lets a task that needs the slot run", async () => {
  const limit = new Semaphore(1);
  const order: string[] = [];
  // The outer task needs the inner one's result: with the slot held this would never settle.
  const outer = limit.run(async (slot) => {
    order.push("outer starts");
    const inner = await slot.outside(() =>
      limit.run(() => {
        order.push("inner runs");
        return Promise.resolve(42);
      })
    );
    order.push("outer has its slot again");
    return inner;
  });
  assert.equal(await outer, 42);
  assert.deepEqual(order, ["outer starts", "inner runs", "outer has its slot again"]);
  // The slot is free again, and a failing task gives its slot back too.
  await assert.rejects(limit.run((slot) => slot.outside(() => Promise.reject(new Error("x")))));
  assert.equal(await limit.run(() => Promise.resolve("free")), "free");
  assert.throws(() => new Semaphore(0), RangeError);
});
