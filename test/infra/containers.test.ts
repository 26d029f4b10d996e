// The container market for real: `bash infra/containers.sh check` builds the images here (Debian minbase by
// debootstrap, NATS and the Node build base from Debian's packages, infra/Dockerfile on them), runs infra/compose.yaml
// on podman (NATS, the chain, the DSO, the gateway, four meters), waits until trades settled, checks that every
// on-chain match is a trade that ended and the ledger balances, and removes everything. Minutes: vitest.config.ts runs
// this file alone, after the rest of the suite. In CI it always runs (.ci/run installs podman); elsewhere it is skipped
// only when podman is not installed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { MarketOutcome } from "../../infra/containers/check.ts";
import { PROJECT_LABEL } from "../../infra/containers/compose.ts";

const repo = resolve(import.meta.dirname, "../..");
const script = join(repo, "infra/containers.sh");
const hasPodman = spawnSync("podman", ["--version"]).status === 0;
const PROJECT = "gridveil-test";

function containersSh(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000) {
  const result = spawnSync("bash", [script, ...args], { cwd: repo, encoding: "utf8", env, timeout: timeoutMs });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: `${result.stdout}\n${result.stderr}` };
}

function podmanLines(args: string[]): string[] {
  const conf = { ...process.env, CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? join(repo, "infra/podman/containers.conf") };
  const result = spawnSync("podman", args, { encoding: "utf8", env: conf });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout.split("\n").filter(Boolean);
}

describe("infra/containers.sh", () => {
  it("says how to install podman when it is missing, and names a wrong command or option", () => {
    const bin = mkdtempSync(join(tmpdir(), "gridveil-no-podman-"));
    try {
      for (const tool of ["bash", "dirname"]) symlinkSync((spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout as string).trim(), join(bin, tool));
      const noPodman = containersSh(["check"], { PATH: bin });
      expect(noPodman.status).toBe(1);
      expect(noPodman.stderr).toMatch(/podman is not installed; on Debian or Ubuntu: apt-get install -y podman runc debootstrap/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
    if (!hasPodman) return;
    const unknown = containersSh(["start"]);
    expect(unknown.status, unknown.output).toBe(2);
    expect(unknown.stderr).toMatch(/containers: usage: unknown command "start"/);
    const meters = containersSh(["check", "--meters", "40"]);
    expect(meters.status, meters.output).toBe(2);
    expect(meters.stderr).toMatch(/--meters 40: a whole number from 1 to 16/);
  });

  it.skipIf(!hasPodman && !process.env.CI)(
    "builds the images, runs the compose market on podman to settled trades with a balanced ledger, and removes it all",
    () => {
      const volumesBefore = new Set(podmanLines(["volume", "ls", "--format", "{{.Name}}"]));
      const run = containersSh(["check", "--project", PROJECT, "--json"], process.env, 1_140_000);
      expect(run.status, run.output.slice(-4000)).toBe(0);
      // Progress for each long step, as it happens.
      for (const step of [/image gridveil:dev: podman build/, /started meter × 4/, /healthy after/, /waiting for trades to settle/, /removing \d+ containers/]) {
        expect(run.stderr).toMatch(step);
      }
      const summary = JSON.parse(run.stdout.trim().split("\n").at(-1) as string) as {
        ok: boolean;
        project: string;
        outcome: MarketOutcome;
        timingsMs: Record<string, number>;
      };
      process.stderr.write(`containers: ${JSON.stringify(summary.outcome)} in ${JSON.stringify(summary.timingsMs)}\n`);
      expect(summary.ok).toBe(true);
      expect(summary.project).toBe(PROJECT);
      expect(summary.outcome.matches).toBeGreaterThan(0);
      expect(summary.outcome.matchesNotEnded).toEqual([]);
      expect(summary.outcome.trades.settled).toBeGreaterThanOrEqual(2);
      expect(summary.outcome.trades.open + summary.outcome.trades.verified).toBe(0);
      expect(summary.outcome.ledger.lines).toBeGreaterThan(0);
      expect(summary.outcome.ledger.sumMicro).toBe(0);
      // Nothing of the market is left: containers, their anonymous volumes, the named volumes, the network.
      expect(podmanLines(["ps", "--all", "--filter", `label=${PROJECT_LABEL}=${PROJECT}`, "--format", "{{.Names}}"])).toEqual([]);
      expect(podmanLines(["volume", "ls", "--format", "{{.Name}}"]).filter((volume) => !volumesBefore.has(volume))).toEqual([]);
      expect(podmanLines(["network", "ls", "--format", "{{.Name}}"])).not.toContain(`${PROJECT}_default`);
    },
    1_200_000,
  );
  if (!hasPodman && !process.env.CI) it("is skipped: podman is not installed (apt-get install -y podman runc debootstrap; CI installs it)", () => undefined);
});
