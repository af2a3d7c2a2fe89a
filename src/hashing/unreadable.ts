/**
 * What stands for the hash of a file that exists (or may) but cannot be read.
 */
const PREFIX = "cannot be read (";

let unreadables = 0;

/**
 * The "hash" of a file that exists (or may) but cannot be read: unique, so it never equals a
 * recorded hash. An input or output memori cannot read is taken to have changed, every time,
 * and the reason says so (`/data/t1.nii (cannot be read (EACCES) #…)`), never taken as the
 * same; for an input, never taken for a plain string either.
 */
export function unreadableHash(code?: string): string {
  unreadables++;
  const nonce = `${process.pid}.${unreadables}.${Math.random().toString(16).slice(2, 10)}`;
  return `${PREFIX}${code ?? "error"}) #${nonce}`;
}

/** Whether a hash stands for a file that could not be read ({@link unreadableHash}). */
export function isUnreadable(hash: string): boolean {
  return hash.startsWith(PREFIX);
}
