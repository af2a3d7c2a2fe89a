// `npm run build`, first step: remove dist/, so that a file whose source was removed or renamed
// is not left behind to be packed and published.
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

rmSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist"), {
  recursive: true,
  force: true,
});
