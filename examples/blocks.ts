// Block-parallel processing of an N-D volume (nd-multicore style): cut the extent into blocks,
// map a stage over them, and a failing block is reported by key while the others complete.
import { Stage, MapError, blocks, type Block } from "memori";
import { workDir } from "./util.js";

const hashOutput = await workDir("blocks");
const shape = [4, 300, 300]; // z, y, x
const volume = (z: number, y: number, x: number) => (z * 7 + y * 3 + x) % 255;

const blockMean = new Stage(
  function blockMean(block: Block, failKey: string) {
    if (block.key === failKey) throw new Error("corrupt voxels in this block");
    let total = 0;
    for (let z = block.start[0]!; z < block.stop[0]!; z++)
      for (let y = block.start[1]!; y < block.stop[1]!; y++)
        for (let x = block.start[2]!; x < block.stop[2]!; x++) total += volume(z, y, x);
    return { key: block.key, mean: total / block.shape.reduce((a, b) => a * b, 1) };
  },
  { outputs: "stats", hashOutput },
);

const grid = blocks(shape, [4, 128, 128]);
console.log(`${grid.length} blocks: ${grid.map((b) => b.key).join(" ")}`);
try {
  await blockMean.map({ block: grid }, { args: { failKey: "0_256_128" } });
} catch (error) {
  if (!(error instanceof MapError)) throw error;
  console.log(`first run: ${error.message}`);
  const done = (error.results.stats ?? []).filter((s) => s !== undefined).length;
  console.log(`  ${done} blocks completed and are cached`);
}
// Fix the problem and run again: only the failed block runs.
const { stats } = await blockMean.map({ block: grid }, { args: { failKey: "none" } });
console.log(`second run: ${stats.length} block means, e.g. ${JSON.stringify(stats[0])}`);
