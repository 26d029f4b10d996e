// infra/Dockerfile without a Docker engine: infra/check-dockerfile.sh replays every RUN line on a clean checkout and
// starts the final image's entrypoint from the emulated root. On CI `npm install` runs from scratch, as in the image;
// locally the working tree's node_modules is copied in first (--reuse-node-modules) to save a minute.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCopy, parseDockerfile } from "../../infra/checkDockerfile.ts";

const repo = resolve(import.meta.dirname, "../..");

describe("infra/Dockerfile", () => {
  it("parses into stages whose RUN lines are plain commands relative to WORKDIR", () => {
    const text = readFileSync(resolve(repo, "infra/Dockerfile"), "utf8");
    const instructions = parseDockerfile(text);
    const froms = instructions.filter((entry) => entry.keyword === "FROM").map((entry) => entry.args);
    expect(froms).toEqual(["${BUILD_IMAGE} AS build", "${RUNTIME_IMAGE} AS runtime"]);
    const runtime = instructions.slice(instructions.findIndex((entry) => entry.args.endsWith("AS runtime")));
    // The runtime stage runs nothing: it only copies the staged tree, so the image layer stays the app itself.
    expect(runtime.filter((entry) => entry.keyword === "RUN")).toEqual([]);
    expect(runtime.find((entry) => entry.keyword === "USER")?.args).toBe("10001:10001");
    for (const run of instructions.filter((entry) => entry.keyword === "RUN")) expect(run.args).not.toMatch(/(^|\s)\/(usr|opt|etc|app)\b/);
    expect(parseCopy("--from=build --chown=1:2 /a /b /dest/")).toEqual({ flags: { from: "build", chown: "1:2" }, sources: ["/a", "/b"], dest: "/dest/" });
  });

  it("every command it runs works on a clean checkout, and the image's entrypoint starts each role", () => {
    const args = process.env.CI ? [] : ["--reuse-node-modules"];
    const result = spawnSync("bash", [resolve(repo, "infra/check-dockerfile.sh"), ...args], { encoding: "utf8", timeout: 400_000 });
    const output = `${result.stdout}\n${result.stderr}`;
    expect(result.status, output.slice(-3000)).toBe(0);
    expect(output).toMatch(/RUN npm install .* ✓/);
    expect(output).toMatch(/RUN npx hardhat build --quiet {2}✓/);
    expect(output).toMatch(/image: node v24\./);
    expect(output).toMatch(/image: `chain` serves JSON-RPC/);
    expect(output).toMatch(/Dockerfile check passed/);
  }, 420_000);
});
