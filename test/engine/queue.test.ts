// Unit tests of src/engine/queue.ts: a task starts at once when a slot is free, waiting tasks
// start by priority, a group's limit holds, a halt drops what waits, and retries queue again.
import { describe, expect, it } from "vitest";
import { TaskQueue, type QueueTask, type Settled } from "../../src/engine/queue.js";

/** A task whose attempts end when the test says so. */
function task(name: string, priority: number, log: string[], group?: number) {
  const ends: ((value: string) => void)[] = [];
  const t: QueueTask<string> = {
    priority,
    group,
    run: (attempt) => {
      log.push(`start ${name}#${attempt}`);
      return new Promise<string>((resolve) => ends.push(resolve));
    },
  };
  return { task: t, end: (value = name) => ends.shift()!(value) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("TaskQueue", () => {
  // pins the start at once (before add returns) when a slot is free, and priority among waiting tasks
  it("starts a task at once in a free slot, and waiting tasks by priority", async () => {
    const log: string[] = [];
    const queue = new TaskQueue<string>(1);
    const settled: string[] = [];
    const done = (name: string) => (s: Settled<string>) =>
      settled.push(`${name}:${s.kind === "done" ? s.value : "dropped"}`);
    const a = task("a", 5, log);
    const b = task("b", 3, log);
    const c = task("c", 1, log);
    queue.add(a.task, done("a"));
    expect(log).toEqual(["start a#1"]);
    expect(queue.running).toBe(1);
    queue.add(b.task, done("b"));
    queue.add(c.task, done("c"));
    expect(log).toEqual(["start a#1"]);
    a.end();
    await tick();
    expect(log).toEqual(["start a#1", "start c#1"]); // c before b: lower number
    c.end();
    await tick();
    b.end();
    await tick();
    expect(log).toEqual(["start a#1", "start c#1", "start b#1"]);
    expect(settled).toEqual(["a:a", "c:c", "b:b"]);
    expect(queue.running).toBe(0);
  });

  // pins the group limit on the path that starts at once, and the parked task starting later
  it("keeps a group within its limit when slots are free", async () => {
    const log: string[] = [];
    const queue = new TaskQueue<string>(3, new Map([[7, 1]]));
    const g1 = task("g1", 1, log, 7);
    const g2 = task("g2", 2, log, 7);
    const free = task("free", 3, log);
    queue.add(g1.task, () => undefined);
    queue.add(g2.task, () => undefined);
    queue.add(free.task, () => undefined);
    expect(log).toEqual(["start g1#1", "start free#1"]);
    g1.end();
    await tick();
    expect(log).toEqual(["start g1#1", "start free#1", "start g2#1"]);
  });

  // pins halt: what waits is dropped, what is added after is dropped at once
  it("drops waiting and later tasks once halted", async () => {
    const log: string[] = [];
    const queue = new TaskQueue<string>(1);
    const kinds: string[] = [];
    const a = task("a", 1, log);
    queue.add(a.task, (s) => kinds.push(`a:${s.kind}`));
    queue.add(task("b", 2, log).task, (s) => kinds.push(`b:${s.kind}`));
    queue.halt();
    queue.add(task("c", 0, log).task, (s) => kinds.push(`c:${s.kind}`));
    expect(kinds).toEqual(["b:dropped", "c:dropped"]);
    a.end();
    await tick();
    expect(kinds).toEqual(["b:dropped", "c:dropped", "a:done"]);
    expect(log).toEqual(["start a#1"]);
  });

  // pins retries: another attempt is queued when `again` says so, with onRetry told first
  it("queues another attempt when the task asks for one", async () => {
    const log: string[] = [];
    const queue = new TaskQueue<string>(1);
    const t = task("r", 1, log);
    const retried: number[] = [];
    let result: Settled<string> | undefined;
    queue.add(
      {
        ...t.task,
        again: (value) => value === "fail",
        onRetry: (_, attempt) => retried.push(attempt),
      },
      (s) => (result = s),
    );
    t.end("fail");
    await tick();
    expect(log).toEqual(["start r#1", "start r#2"]);
    expect(retried).toEqual([1]);
    t.end("ok");
    await tick();
    expect(result).toEqual({ kind: "done", value: "ok", attempt: 2 });
  });

  // pins the synchronous path: a task that returns its value (a cache hit) settles before
  // add() returns, and 100,000 of them waiting behind one running task start in a loop, in
  // priority order, not one nested call each (a stack overflow)
  it("settles a task that ends at once before add returns, and many without nesting", async () => {
    const queue = new TaskQueue<string>(1);
    const settled: number[] = [];
    const now = (priority: number): QueueTask<string> => ({
      priority,
      run: () => String(priority),
    });
    queue.add(now(1), (s) => settled.push(s.kind === "done" ? Number(s.value) : -1));
    expect(settled).toEqual([1]);
    expect(queue.running).toBe(0);
    const log: string[] = [];
    const slow = task("slow", 0, log);
    queue.add(slow.task, () => undefined);
    const n = 100_000;
    for (let i = n; i > 0; i--)
      queue.add(now(i + 1), (s) => s.kind === "done" && settled.push(Number(s.value)));
    expect(settled).toEqual([1]);
    slow.end();
    await tick();
    expect(settled).toHaveLength(n + 1);
    expect(settled.slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(settled[n]).toBe(n + 1);
    expect(queue.running).toBe(0);
  });

  // pins hold/release: tasks added while held wait, then start by priority; release stops
  // after a task that ended at once (and says so), so what that task made ready can be added
  // before the next one starts
  it("holds what is added, then starts it by priority, stopping after a task that ends at once", async () => {
    const queue = new TaskQueue<string>(2);
    const log: string[] = [];
    const now = (name: string, priority: number): QueueTask<string> => ({
      priority,
      run: () => (log.push(`start ${name}`), name),
    });
    const slow = task("slow", 5, log);
    queue.hold();
    queue.add(slow.task, () => undefined);
    queue.add(now("hit", 1), () => log.push("done hit"));
    queue.add(now("late", 9), () => log.push("done late"));
    expect(log).toEqual([]);
    expect(queue.release()).toBe(true); // "hit" ended at once: stopped there
    expect(log).toEqual(["start hit", "done hit"]);
    queue.hold();
    queue.add(now("unlocked", 2), () => log.push("done unlocked"));
    expect(queue.release()).toBe(true);
    expect(log.slice(2)).toEqual(["start unlocked", "done unlocked"]);
    expect(queue.release()).toBe(true); // "slow" started (it runs on), then "late" ended at once
    expect(log.slice(4)).toEqual(["start slow#1", "start late", "done late"]);
    expect(queue.release()).toBe(false); // nothing more is ready
    slow.end();
    await tick();
    expect(queue.running).toBe(0);
  });
});
