/**
 * Where a JSON text stops being JSON: V8's `JSON.parse` says why, but on Node 20 only
 * sometimes where ("Unexpected token '}', ... is not valid JSON" has no position). A config
 * file's error must name the line and column, so this scans the text (iteratively: any depth)
 * up to the first byte that cannot continue a JSON text.
 */

/** A position in a text, both 1-based. */
export interface LineColumn {
  line: number;
  column: number;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPES = '"\\/bfnrt';

/** The offset of the first character at which `text` is not JSON, or -1 if it is JSON. */
export function jsonErrorOffset(text: string): number {
  const n = text.length;
  const stack: string[] = [];
  let i = 0;
  const space = () => {
    while (i < n && " \t\n\r".includes(text[i]!)) i++;
  };
  /** Past a string at i; false at the character that breaks it (i moved there). */
  const string = (): boolean => {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e !== undefined && ESCAPES.includes(e)) i += 2;
        else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else {
          i += e === "u" ? 2 : 1;
          return false;
        }
      } else i++;
    }
    return false;
  };
  let state: "value" | "key" | "after" = "value";
  for (;;) {
    space();
    if (state === "key") {
      if (text[i] !== '"' || !string()) return i;
      space();
      if (text[i] !== ":") return i;
      i++;
      state = "value";
      continue;
    }
    if (state === "after") {
      const top = stack[stack.length - 1];
      if (top === undefined) return i === n ? -1 : i;
      if (text[i] === ",") {
        i++;
        state = top === "{" ? "key" : "value";
      } else if (text[i] === (top === "{" ? "}" : "]")) {
        i++;
        stack.pop();
      } else return i;
      continue;
    }
    const c = text[i];
    if (c === "{" || c === "[") {
      stack.push(c);
      i++;
      space();
      if (text[i] === (c === "{" ? "}" : "]")) {
        i++;
        stack.pop();
        state = "after";
      } else state = c === "{" ? "key" : "value";
      continue;
    }
    if (c === '"') {
      if (!string()) return i;
    } else if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(text);
      if (match === null) return i + 1;
      i += match[0].length;
    } else {
      const word = ["true", "false", "null"].find((w) => text.startsWith(w, i));
      if (word === undefined) return i;
      i += word.length;
    }
    state = "after";
  }
}

/** The line and column (1-based) of an offset in `text`. */
export function lineColumn(text: string, offset: number): LineColumn {
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf("\n") + 1;
  return { line: before.split("\n").length, column: offset - lineStart + 1 };
}
