// Shared file systems and clock skew: a file on a file system other hosts write is trusted by
// its stat identity only once it was left alone for longer than the skew memori allows for.
// There is no network file system here: the real mount table is read, and MEMORI_SHARED_FS
// makes tmpfs (/dev/shm) count as shared, for a real file and a real FileHasher.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileHasher } from "../../src/hashing/files.js";
import {
  allowedSkewMs,
  deviceName,
  isShared,
  typesByDevice,
} from "../../src/hashing/file-systems.js";

const saved = process.env.MEMORI_SHARED_FS;
afterEach(() => {
  if (saved === undefined) delete process.env.MEMORI_SHARED_FS;
  else process.env.MEMORI_SHARED_FS = saved;
});

describe("the mount table", () => {
  it("names each device's type, optional fields and all", () => {
    // the first line is mountinfo(5)'s own example; the nfs4 line is written by hand (no NFS here)
    const types = typesByDevice(
      [
        "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
        "40 27 0:52 / /lab rw,relatime shared:7 - nfs4 server:/export rw,vers=4.2",
        "garbage",
        "",
      ].join("\n"),
    );
    expect(types).toEqual(
      new Map([
        ["98:0", "ext3"],
        ["0:52", "nfs4"],
      ]),
    );
  });

  it("finds this machine's root file system, local", () => {
    const real = typesByDevice(readFileSync("/proc/self/mountinfo", "utf8"));
    const root = statSync("/").dev;
    expect(real.get(deviceName(root))).toBeDefined();
    expect(isShared(root)).toBe(false);
  });

  it("decodes device numbers as glibc encodes them", () => {
    expect(deviceName(0x0801)).toBe("8:1");
    expect(deviceName(52)).toBe("0:52");
    expect(deviceName((259n << 8n) | 3n)).toBe("259:3");
    // minor numbers over 255 and majors over 4095 use the high bits (glibc's makedev)
    const makedev = (major: bigint, minor: bigint) =>
      (minor & 0xffn) |
      ((major & 0xfffn) << 8n) |
      ((minor & ~0xffn) << 12n) |
      ((major & ~0xfffn) << 32n);
    expect(deviceName(makedev(0x12345n, 0xabcden))).toBe(`${0x12345}:${0xabcde}`);
  });

  it("reads the allowed skew from MEMORI_CLOCK_SKEW_MS", () => {
    expect(allowedSkewMs({})).toBe(120_000);
    expect(allowedSkewMs({ MEMORI_CLOCK_SKEW_MS: "5000" })).toBe(5000);
    expect(allowedSkewMs({ MEMORI_CLOCK_SKEW_MS: "0" })).toBe(0);
    expect(allowedSkewMs({ MEMORI_CLOCK_SKEW_MS: "-1" })).toBe(120_000);
    expect(allowedSkewMs({ MEMORI_CLOCK_SKEW_MS: "soon" })).toBe(120_000);
  });
});

describe("trust on a shared file system", () => {
  // One file on tmpfs, left alone for 3 s (past the 2 s racy window), hashed by a fresh hasher
  // each time: trusted on a local file system; on a shared one, only past the allowed skew.
  it("trusts a file by its stat only once the allowed skew has passed there", async () => {
    const dir = mkdtempSync("/dev/shm/memori-shared-");
    const skew = process.env.MEMORI_CLOCK_SKEW_MS;
    try {
      const file = path.join(dir, "t1.nii");
      writeFileSync(file, "voxels");
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const trustedNow = async () => {
        const hasher = new FileHasher();
        await hasher.hash(file);
        return hasher.trusted(file) !== undefined;
      };
      expect(isShared(statSync(dir).dev)).toBe(false);
      expect(await trustedNow()).toBe(true);
      process.env.MEMORI_SHARED_FS = "nfs4, tmpfs";
      expect(isShared(statSync(dir).dev)).toBe(true);
      expect(await trustedNow()).toBe(false); // 3 s < 2 s + 120 s: hashed again next time
      process.env.MEMORI_CLOCK_SKEW_MS = "500";
      expect(await trustedNow()).toBe(true); // 3 s > 2 s + 0.5 s
    } finally {
      if (skew === undefined) delete process.env.MEMORI_CLOCK_SKEW_MS;
      else process.env.MEMORI_CLOCK_SKEW_MS = skew;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
