/** Blocks of an N-D extent to map a stage over (nd-multicore's tiling and keys). */
import { MemoriError, describe } from "./errors.js";

/** A block of an N-D extent. */
export interface Block {
  /** The block's start coordinates joined by `_` (nd-multicore's key), e.g. `"0_512_1024"`. */
  key: string;
  /** Position in the order of blocks (first axis outermost). */
  index: number;
  /** First coordinate of the block on each axis. */
  start: number[];
  /** One past the last coordinate on each axis. */
  stop: number[];
  /** The block's size on each axis (smaller at the far edges). */
  shape: number[];
}

/**
 * Cut an N-D extent into blocks of at most `blockShape` (the last blocks on an axis are cut at
 * the edge), in order, first axis outermost: map a stage over them, and a failing block is
 * reported by its key while the others complete.
 *
 * @example
 * ```ts
 * blocks([10, 1024, 1024], [10, 512, 512]).map((b) => b.key) // ["0_0_0", "0_0_512", "0_512_0", "0_512_512"]
 * ```
 */
export function blocks(shape: readonly number[], blockShape: readonly number[]): Block[] {
  if (
    !Array.isArray(shape) ||
    shape.length === 0 ||
    !shape.every((n) => Number.isInteger(n) && n >= 0)
  ) {
    throw new MemoriError(
      "invalid-argument",
      `blocks(): the extent must be an array of whole numbers >= 0, got ${describe(shape)}.`,
    );
  }
  if (
    !Array.isArray(blockShape) ||
    blockShape.length !== shape.length ||
    !blockShape.every((n) => Number.isInteger(n) && n >= 1)
  ) {
    throw new MemoriError(
      "invalid-argument",
      `blocks(): the block shape must be ${shape.length} whole numbers >= 1 (one per axis), got ${describe(blockShape)}.`,
    );
  }
  let starts: number[][] = [[]];
  shape.forEach((size, axis) => {
    const step = blockShape[axis]!;
    const axisStarts: number[] = [];
    for (let s = 0; s < size; s += step) axisStarts.push(s);
    starts = starts.flatMap((prefix) => axisStarts.map((s) => [...prefix, s]));
  });
  if (shape.some((n) => n === 0)) return [];
  return starts.map((start, index) => {
    const stop = start.map((s, axis) => Math.min(s + blockShape[axis]!, shape[axis]!));
    return {
      key: start.join("_"),
      index,
      start,
      stop,
      shape: stop.map((e, axis) => e - start[axis]!),
    };
  });
}
