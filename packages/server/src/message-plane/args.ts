import { STORE_NAMES, type StoreName } from "../bus/types.js";
import { PlaneError } from "./envelope.js";

/** Typed readers of RPC args: a wrong type is a BAD_ARGS reply naming the argument, never a coercion guess. */

const bad = (message: string): never => {
  throw new PlaneError("BAD_ARGS", message);
};

/** `store` (alias `bus`), default "messages" as in the reference. */
export function storeArg(args: Record<string, unknown>): StoreName {
  const s = args.store ?? args.bus ?? "messages";
  if (typeof s !== "string") return bad("store must be a string");
  if (!(STORE_NAMES as readonly string[]).includes(s)) {
    throw new PlaneError("INVALID_STORE", `invalid store ${JSON.stringify(s)}; stores are ${STORE_NAMES.join(", ")}`);
  }
  return s as StoreName;
}

export function optString(args: Record<string, unknown>, key: string, maxLen = 1024): string | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") return bad(`${key} must be a string`);
  if (v.length > maxLen) return bad(`${key} is longer than ${maxLen} characters`);
  return v;
}

export function optNumber(args: Record<string, unknown>, key: string): number | undefined {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) return bad(`${key} must be a finite number`);
  return v;
}

export function optInt(args: Record<string, unknown>, key: string, min: number): number | undefined {
  const v = optNumber(args, key);
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < min) return bad(`${key} must be an integer ≥ ${min}`);
  return v;
}

export function optBool(args: Record<string, unknown>, key: string): boolean {
  const v = args[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") return bad(`${key} must be a boolean`);
  return v;
}

/** A topic selector for store-wide reads: absent, null, "" and "*" mean every topic (reference). */
export function topicSelector(args: Record<string, unknown>, maxLen: number): string | undefined {
  const t = optString(args, "topic", maxLen);
  return t === undefined || t === "" || t === "*" ? undefined : t;
}

/** `limit` (1…), default and cap from the bus limits; above the cap it is clamped like the reference does. */
export function limitArg(args: Record<string, unknown>, def: number, max: number, key = "limit"): number {
  const v = optInt(args, key, 1);
  return Math.min(v ?? def, max);
}
