/** Worker-thread entry for the hashing pool: hashes one file. */
import { hashFileContent, type Sha256Hex } from "./files.js";

export default function hashInWorker(file: string): Promise<Sha256Hex> {
  return hashFileContent(file);
}
