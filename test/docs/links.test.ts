// The docs link the code they describe: every relative link in README.md and docs/ names a file or folder that exists.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..", "..");

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? markdownFiles(join(dir, entry.name)) : entry.name.endsWith(".md") ? [join(dir, entry.name)] : [],
  );
}

const files = [join(ROOT, "README.md"), ...markdownFiles(join(ROOT, "docs"))];

describe("documentation links", () => {
  it.each(files.map((file) => [file.slice(ROOT.length + 1), file]))("%s links only to files that exist", (_name, file) => {
    const text = readFileSync(file, "utf8");
    const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((match) => match[1] as string)
      .filter((target) => !/^[a-z]+:/.test(target) && !target.startsWith("#"))
      .map((target) => target.split("#")[0] as string);
    const missing = targets.filter((target) => !existsSync(resolve(dirname(file), target)));
    expect(missing).toEqual([]);
  });

  it("has the two flows, each step linked to the code", () => {
    for (const flow of ["bid-to-chain.md", "trade-to-bill.md"]) {
      const text = readFileSync(join(ROOT, "docs", "flows", flow), "utf8");
      const steps = text.split("\n").filter((line) => /^\| \d/.test(line));
      expect(steps.length, flow).toBeGreaterThan(5);
      for (const step of steps) expect(step, flow).toMatch(/\]\(\.\.\/\.\.\/[a-z]/);
    }
  });
});
