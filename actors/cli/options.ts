// Parsers for command-line flag values: each rejects bad input with a ConfigError naming the flag.
import { InvalidArgumentError } from "commander";

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
