/**
 * Splits one line of comma-separated fields the way buildx reads `--output`
 * (Go's `encoding/csv` with one extension, see {@link splitCsvLine}).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { splitCsvLine } from "./_csv.ts";
 * assertEquals(splitCsvLine('type=image,"name=a:1,b:2"'), ["type=image", "name=a:1,b:2"]);
 * ```
 * @module
 */

/**
 * Splits `text` into fields at commas outside quotes.
 *
 * - A field that starts with `"` is quoted as in Go's `encoding/csv`: it ends at
 *   the next lone `"`, `""` inside stands for one `"`, and only a comma may follow.
 * - Extension: `key="a,b"` (a quote right after the first `=`) quotes just the value,
 *   which Go's reader rejects but users write naturally.
 * - A `"` anywhere else is an error, as in Go (`bare " in non-quoted field`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { splitCsvLine } from "./_csv.ts";
 * assertEquals(splitCsvLine('name="a,b",push'), ["name=a,b", "push"]);
 * ```
 */
export function splitCsvLine(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  const n = text.length;
  const fail = (why: string, at: number): never => {
    throw new SyntaxError(
      `Cannot parse "${text}" at character ${at + 1}: ${why}; quote a whole field ` +
        `("name=a,b") or a value (name="a,b") and double any quote inside it ("")`,
    );
  };
  // Reads a quoted run starting at the opening quote; returns the text and the index after the closing quote.
  const readQuoted = (start: number): [string, number] => {
    let out = "";
    let j = start + 1;
    for (;;) {
      if (j >= n) fail("a quoted field has no closing quote", start);
      const c = text[j]!;
      if (c === '"') {
        if (text[j + 1] === '"') {
          out += '"';
          j += 2;
          continue;
        }
        return [out, j + 1];
      }
      out += c;
      j++;
    }
  };
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      const [value, next] = readQuoted(i);
      field = value;
      i = next;
      if (i < n && text[i] !== ",") fail("only a comma may follow a closing quote", i);
    } else {
      while (i < n && text[i] !== ",") {
        const c = text[i]!;
        if (c === '"') {
          // Only a value quoted right after the first "=" is allowed here.
          if (field.indexOf("=") !== field.length - 1) {
            fail('bare " in a field that does not start with a quote', i);
          }
          const [value, next] = readQuoted(i);
          field += value;
          i = next;
          if (i < n && text[i] !== ",") fail("only a comma may follow a closing quote", i);
          break;
        }
        field += c;
        i++;
      }
    }
    fields.push(field);
    if (i >= n) break;
    i++; // the comma
  }
  return fields;
}
