// The error convention (protocol/base/errors.ts), checked on the source: each domain declares its errors in one
// errors.ts module, and each class builds its message from the facts it is given, so no throw site words a message.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..", "..");
const TREES = ["actors", "machines", "protocol", "bench", "contracts/client", "scripts"];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const files = TREES.flatMap(sources).map((file) => ({ file, text: readFileSync(join(ROOT, file), "utf8") }));
const CLASS = /\bclass\s+(\w+)\s+extends\s+(\w*Error\b|errorClass\(|rejectedWith\()/g;

describe("errors", () => {
  it("declares every error class in a module named errors.ts", () => {
    const offending = files
      .filter(({ file }) => !file.endsWith("/errors.ts"))
      .flatMap(({ file, text }) => [...text.matchAll(CLASS)].map((match) => `${file}: ${match[1]}`));
    expect(offending).toEqual([]);
  });

  it("never words an error's message at the throw site", () => {
    const ours = new Set(
      files.filter(({ file }) => file.endsWith("/errors.ts")).flatMap(({ text }) => [...text.matchAll(CLASS)].map((m) => m[1] as string)),
    );
    ours.add("GridveilError");
    const offending = files.flatMap(({ file, text }) =>
      [...text.matchAll(/\bnew\s+(\w+)\(\s*[`"']/g)]
        .filter((match) => ours.has(match[1] as string))
        .map((match) => `${file}:${text.slice(0, match.index).split("\n").length}: ${match[1]}`),
    );
    expect(offending).toEqual([]);
  });
});
