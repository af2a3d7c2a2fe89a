/** Worker-thread entry for workerFunction(): import the module and call the export. */
export default async function callExport(task: {
  url: string;
  exportName: string;
  args: unknown[];
}): Promise<unknown> {
  const loaded = (await import(task.url)) as Record<string, (...args: unknown[]) => unknown>;
  return await loaded[task.exportName]!(...task.args);
}
