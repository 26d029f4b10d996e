// Parsers for command-line flag values: each rejects bad input with commander's InvalidArgumentError naming the flag
// (a usage error: the actor commands exit 2).
import { InvalidArgumentError } from "commander";
import { isAddress } from "ethers";
import { marketToken } from "../../protocol/wire/subjects.ts";

export const NATS_SCHEMES = ["nats:", "tls:", "ws:", "wss:"];
export const RPC_SCHEMES = ["http:", "https:", "ws:", "wss:"];

export function positiveInt(flag: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`${flag} must be an integer, got "${raw}"`);
    const value = Number(raw);
    if (value < min || value > max) throw new InvalidArgumentError(`${flag} must be between ${min} and ${max}, got ${value}`);
    return value;
  };
}

export function intList(flag: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  const one = positiveInt(flag, min, max);
  return (raw: string): number[] => {
    const parts = raw.split(",").map((part) => part.trim()).filter((part) => part.length > 0);
    if (parts.length === 0) throw new InvalidArgumentError(`${flag} needs at least one value, e.g. 10,20`);
    return parts.map(one);
  };
}

/** A URL whose scheme is one of `schemes` (with the colon: `"nats:"`); the value is kept as given. */
export function url(flag: string, schemes: readonly string[]) {
  return (raw: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new InvalidArgumentError(`${flag} must be a URL, got "${raw}"`);
    }
    if (!schemes.includes(parsed.protocol)) throw new InvalidArgumentError(`${flag} must use ${schemes.join(" or ")}, got "${raw}"`);
    return raw;
  };
}

/** A flag that takes one URL or a comma-separated list of them (a NATS cluster's servers). */
export function urlList(flag: string, schemes: readonly string[]) {
  const one = url(flag, schemes);
  return (raw: string): string => {
    const parts = raw.split(",").map((part) => part.trim());
    if (parts.some((part) => part === "")) throw new InvalidArgumentError(`${flag} must be URLs separated by commas, got "${raw}"`);
    return parts.map(one).join(",");
  };
}

/** `--market`: a market id usable as a subject token (protocol/wire/subjects.ts). */
export function marketId(raw: string): string {
  try {
    return marketToken(raw);
  } catch {
    throw new InvalidArgumentError(`--market must be 1–64 characters of a-z, 0-9, '_' or '-', got "${raw}"`);
  }
}

/** An Ethereum address: 0x + 40 hex digits, and a valid checksum when mixed case. */
export function address(flag: string) {
  return (raw: string): string => {
    if (!/^0x[0-9a-fA-F]{40}$/.test(raw) || !isAddress(raw)) throw new InvalidArgumentError(`${flag} must be an address (0x + 40 hex), got "${raw}"`);
    return raw;
  };
}

/**
 * A private key, 64 hex digits with or without `0x`; returned with `0x`. `source` names where it came from in the
 * message (`--key`, `the --key-file content`). `trim: false` refuses surrounding white space instead of dropping it
 * (the gateway's `--key` always has).
 */
export function privateKey(source: string, { trim = true }: { trim?: boolean } = {}) {
  return (raw: string): string => {
    const text = trim ? raw.trim() : raw;
    const key = text.startsWith("0x") ? text : `0x${text}`;
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new InvalidArgumentError(`${source} must be a private key (64 hex digits)`);
    return key;
  };
}
