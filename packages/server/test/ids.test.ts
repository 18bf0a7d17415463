import { validate, version } from "uuid";
import { describe, expect, it } from "vitest";
import { newId } from "../src/runs/ids.js";

describe("run and export ids", () => {
  it("are valid UUID v7s, distinct across pool refills", () => {
    const ids = Array.from({ length: 10_000 }, () => newId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 300)) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
    }
  });

  it("sort by creation time across milliseconds", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(newId());
      await new Promise((r) => setTimeout(r, 2));
    }
    expect([...ids].sort()).toEqual(ids);
  });
});
