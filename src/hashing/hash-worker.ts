/** Worker-thread entry for the hashing pool: hashes one file, reporting progress on a port. */
import type { MessagePort } from "node:worker_threads";
import { hashFileContent, type Sha256Hex } from "./files.js";

export default async function hashInWorker(task: {
  file: string;
  port?: MessagePort;
}): Promise<Sha256Hex> {
  try {
    return await hashFileContent(
      task.file,
      task.port ? (bytes) => task.port?.postMessage(bytes) : undefined,
    );
  } finally {
    task.port?.close();
  }
}
