/**
 * The entry order of an eStargz layer with prioritized files, as the reference's
 * `sortEntries`/`moveRec` compute it: each prioritized path in the given order, preceded by
 * its parent folders and, for hardlinks, by their targets (recursively); then the
 * `.prefetch.landmark`; then the remaining entries in input order.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { cleanEntryName, prioritize } from "./_estargz_order.ts";
 * const entries = new Map([["a", { name: "a/" }], ["a/b", { name: "a/b" }], ["c", { name: "c" }]]);
 * const { first, rest } = prioritize(entries, ["/a/b"], () => undefined);
 * assertEquals(first.map((e) => e.name), ["a/", "a/b"]);
 * assertEquals(rest.map((e) => e.name), ["c"]);
 * assertEquals(cleanEntryName("./x//y/"), "x/y");
 * ```
 * @module
 */

/** Go's `strings.TrimPrefix(path.Clean("/"+name), "/")`: the key entries are matched by. */
export function cleanEntryName(name: string): string {
  const out: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

/**
 * Splits `entries` (keyed by {@link cleanEntryName}, in input order) into the prioritized
 * part and the rest. `linkTarget` returns the target of a hardlink entry, else undefined.
 * Throws a RangeError naming the first path that is not in `entries`.
 */
export function prioritize<T>(
  entries: Map<string, T>,
  prioritized: readonly string[],
  linkTarget: (entry: T) => string | undefined,
): { first: T[]; rest: T[] } {
  const remaining = new Map(entries);
  const moved = new Map<string, T>();
  const visiting = new Set<string>();
  const move = (raw: string, asked: string): void => {
    const name = cleanEntryName(raw);
    if (name === "") return; // the root has no entry of its own here
    if (!remaining.has(name) && !moved.has(name)) {
      throw new RangeError(
        `Cannot prioritize "${asked}" in the eStargz layer: the layer has no entry "${name}"; ` +
          "list only files the layer contains (their folders and hardlink targets too)",
      );
    }
    const slash = name.lastIndexOf("/");
    move(slash < 0 ? "" : name.slice(0, slash), asked);
    const entry = remaining.get(name);
    if (entry === undefined) return;
    const target = linkTarget(entry);
    if (target !== undefined && !visiting.has(name)) {
      visiting.add(name); // a hardlink cycle must not recurse forever
      move(target, asked);
      visiting.delete(name);
    }
    if (remaining.delete(name)) moved.set(name, entry);
  };
  for (const p of prioritized) move(p, p);
  return { first: [...moved.values()], rest: [...remaining.values()] };
}
