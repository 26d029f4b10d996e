// What the party commands share: the private key from --key or --key-file, --config, the data directory, usage
// errors exiting 2, and the graceful shutdown (stop, telemetry down, exit 0, or 1 when stopping failed).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Command, CommanderError, Option } from "commander";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { parseMachineConfig } from "../../machines/config.ts";
import { positiveInt } from "../../actors/config/parsers.ts";
import {
  exitTwoOnUsageError,
  handleShutdown,
  loadMachineConfig,
  partyDataDir,
  privateKeyOf,
  readMachineConfigInput,
  type MissingKey,
} from "../../actors/cli/partyProcess.ts";
import { ConfigError } from "../../protocol/base/errors.ts";
import type { Logger } from "../../actors/telemetry/logger.ts";
import type { Telemetry } from "../../actors/telemetry/telemetry.ts";

const KEY = "0x59c6995e998f97a78a4a2e48f5a7f2e2b2f6e0f5d3c5a3b1c2d3e4f5a6b7c8d9";
const MISSING: MissingKey = { party: "DSO", key: "its private key", hint: "--key-file FILE" };

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gridveil-party-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("privateKeyOf", () => {
  it("takes --key as parsed, or reads --key-file and trims it", async () => {
    expect(privateKeyOf({ key: KEY }, MISSING)).toBe(KEY);
    const file = join(dir, "key.txt");
    await writeFile(file, `  ${KEY.slice(2)}\n`);
    expect(privateKeyOf({ keyFile: file }, MISSING)).toBe(KEY);
  });

  it("refuses both at once, naming the party", () => {
    expect(() => privateKeyOf({ key: KEY, keyFile: "k" }, MISSING)).toThrow("give the DSO key once: --key or --key-file, not both");
  });

  it("refuses an unreadable or malformed --key-file with the file as the value", async () => {
    const unreadable = caught(() => privateKeyOf({ keyFile: join(dir, "absent") }, MISSING));
    expect(unreadable).toBeInstanceOf(ConfigError);
    expect(unreadable).toMatchObject({ shortMessage: "cannot read the --key-file", value: join(dir, "absent") });

    const bad = join(dir, "bad.txt");
    await writeFile(bad, "nothex\n");
    expect(caught(() => privateKeyOf({ keyFile: bad }, MISSING))).toMatchObject({
      name: "InvalidSettingError",
      shortMessage: "the --key-file content must be a private key (64 hex digits)",
      value: bad,
    });
  });

  it("without either, says what the party needs and how to give it", () => {
    expect(caught(() => privateKeyOf({}, MISSING))).toMatchObject({ name: "MissingSettingError", shortMessage: "the DSO needs its private key", hint: MISSING.hint });
  });
});

describe("--config", () => {
  it("is the defaults without a file, and the file's fields with one", async () => {
    expect(readMachineConfigInput(undefined)).toEqual({});
    expect(loadMachineConfig(undefined)).toEqual(parseMachineConfig({}));
    const file = join(dir, "config.json");
    await writeFile(file, JSON.stringify({ gateway: { batchMaxSize: 3 } }));
    expect(loadMachineConfig(file).gateway.batchMaxSize).toBe(3);
  });

  it("refuses JSON that is not an object (null, an array, a number) before any flag is laid over it", async () => {
    for (const [name, text] of [["null.json", "null"], ["array.json", "[1]"], ["number.json", "3"]] as const) {
      const file = join(dir, name);
      await writeFile(file, text);
      expect(caught(() => readMachineConfigInput(file))).toMatchObject({ name: "UnreadableSettingFileError", shortMessage: "the --config file must hold a JSON object" });
    }
  });

  it("refuses a missing file and a non-JSON one, each with its own message, the path and what it should hold", async () => {
    const broken = join(dir, "broken.json");
    await writeFile(broken, "{not json");
    const absent = join(dir, "absent.json");
    expect(caught(() => loadMachineConfig(absent))).toMatchObject({
      name: "UnreadableSettingFileError",
      shortMessage: "cannot read the --config file",
      value: absent,
      hint: "a JSON object of machines/config.ts fields",
    });
    expect(caught(() => loadMachineConfig(broken))).toMatchObject({
      name: "InvalidJsonSettingFileError",
      shortMessage: expect.stringMatching(/^the --config file is not valid JSON \(.*position 1/),
      value: broken,
      hint: "a JSON object of machines/config.ts fields",
    });
  });
});

describe("partyDataDir", () => {
  it("is --data-dir when given, else .gridveil/<market>/<name>", () => {
    expect(partyDataDir({ market: "m1", dataDir: "/var/lib/dso" }, "dso")).toBe("/var/lib/dso");
    expect(partyDataDir({ market: "m1" }, "meter-pv-1")).toBe(resolve(".gridveil/m1/meter-pv-1"));
  });
});

describe("exitTwoOnUsageError", () => {
  function command(): Command {
    const program = new Command().exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    return exitTwoOnUsageError(program.command("party").addOption(new Option("--levels <n>").argParser(positiveInt("--levels", 2, 126))).action(() => undefined));
  }

  it("turns a bad flag into exit code 2 and leaves help at 0", async () => {
    const bad = await command().parseAsync(["--levels", "1"], { from: "user" }).catch((error: unknown) => error);
    expect(bad).toBeInstanceOf(CommanderError);
    expect(bad).toMatchObject({ exitCode: 2, code: "commander.invalidArgument" });
    const help = await command().parseAsync(["--help"], { from: "user" }).catch((error: unknown) => error);
    expect(help).toMatchObject({ exitCode: 0 });
  });
});

describe("handleShutdown", () => {
  const signals = ["SIGTERM", "SIGINT"] as const;
  const before = new Map(signals.map((signal) => [signal, process.listeners(signal)]));

  afterEach(() => {
    // Only the handlers these tests installed.
    for (const signal of signals) for (const listener of process.listeners(signal)) if (!before.get(signal)?.includes(listener)) process.off(signal, listener);
    vi.restoreAllMocks();
  });

  function setUp(stop: (reason: string) => Promise<void>) {
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as () => never);
    const logger = { info: vi.fn(), error: vi.fn() };
    const telemetry: Telemetry = { tracer: {} as Telemetry["tracer"], shutdown: vi.fn(async () => undefined) };
    const shutdown = handleShutdown({ logger: logger as unknown as Logger, telemetry, stop, reasonField: "reason" });
    return { exit, logger, telemetry, shutdown };
  }

  it("on SIGTERM stops once, shuts telemetry down and exits 0", async () => {
    const stop = vi.fn(async () => undefined);
    const { exit, logger, telemetry, shutdown } = setUp(stop);
    process.emit("SIGTERM");
    shutdown.begin("done");
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(0));
    expect(shutdown.exiting).toBe(true);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(stop).toHaveBeenCalledWith("SIGTERM");
    expect(logger.info).toHaveBeenCalledWith({ reason: "SIGTERM" }, "shutting down");
    expect(telemetry.shutdown).toHaveBeenCalledTimes(1);
  });

  it("exits 1 when stopping fails, after shutting telemetry down", async () => {
    const { exit, logger, telemetry, shutdown } = setUp(async () => {
      throw new Error("stuck");
    });
    shutdown.begin("done");
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(1));
    expect(logger.error).toHaveBeenCalledWith({ err: expect.any(Error) }, "stop failed");
    expect(telemetry.shutdown).toHaveBeenCalledTimes(1);
  });

  it("after a failed start rethrows, unless a shutdown has begun", async () => {
    const { telemetry, shutdown } = setUp(async () => undefined);
    await expect(shutdown.startFailed(new Error("no chain"))).rejects.toThrow("no chain");
    expect(telemetry.shutdown).toHaveBeenCalledTimes(1);
    shutdown.begin("SIGTERM");
    const pending = await Promise.race([shutdown.startFailed(new Error("no chain")).then(() => "settled"), new Promise((done) => setTimeout(() => done("pending"), 50))]);
    expect(pending).toBe("pending");
  });
});
