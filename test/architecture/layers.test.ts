// The layout's rules, checked on the source (README "Folders", STYLE.md): machines decide and import only protocol/
// and XState; protocol/ is pure and imports no adapter; runtime defaults live in the config modules only.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..", "..");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Every module specifier a file imports or re-exports, resolved to a repository path when it is relative. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms)].map((match) => {
    const specifier = match[1] as string;
    return specifier.startsWith(".") ? relative(ROOT, resolve(ROOT, file, "..", specifier)) : specifier;
  });
}

const ADAPTERS = [/^@nats-io\//, /^node:sqlite$/, /^@opentelemetry\/sdk/, /^@opentelemetry\/exporter/, /^pino$/, /^hardhat/];
/** ethers' pure helpers (hashing, ABI, addresses) are fine in protocol/; a provider, signer or contract is not. */
const ETHERS_ADAPTERS = /\b(JsonRpcProvider|WebSocketProvider|Provider|Wallet|Signer|Contract|ContractFactory)\b/;

describe("layers", () => {
  it("machines/ import only protocol/, machines/, XState and zod", () => {
    const offending = sources("machines").flatMap((file) =>
      importsOf(file)
        .filter((target) => !/^(protocol|machines)\//.test(target) && target !== "xstate" && target !== "zod")
        .map((target) => `${file} → ${target}`),
    );
    expect(offending).toEqual([]);
  });

  it("protocol/ imports nothing from machines/ or actors/ and no adapter", () => {
    const offending = sources("protocol").flatMap((file) => {
      const text = readFileSync(join(ROOT, file), "utf8");
      const fromEthers = [...text.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"ethers"/g)].flatMap((m) => (m[1] as string).split(","));
      return [
        ...importsOf(file)
          .filter((target) => /^(machines|actors|contracts|bench)\//.test(target) || ADAPTERS.some((adapter) => adapter.test(target)))
          .map((target) => `${file} → ${target}`),
        ...fromEthers.filter((name) => ETHERS_ADAPTERS.test(name)).map((name) => `${file} → ethers ${name.trim()}`),
      ];
    });
    expect(offending).toEqual([]);
  });

  it("keeps runtime defaults in the config modules (no DEFAULT_* constant elsewhere)", () => {
    const offending = ["actors", "machines", "protocol", "contracts/client", "bench"]
      .flatMap(sources)
      .filter((file) => !file.startsWith("actors/config/"))
      .filter((file) => /\b(?:const|let|var)\s+DEFAULT_[A-Z0-9_]+\s*=/.test(readFileSync(join(ROOT, file), "utf8")));
    expect(offending).toEqual([]);
  });
});
