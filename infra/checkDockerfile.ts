// Checks infra/Dockerfile without a Docker engine: replays its stages on a clean checkout (the files git would
// commit, minus Dockerfile.dockerignore), running every RUN line as an ordinary command, emulating COPY between
// stages into per-stage root directories, then starts the final image's entrypoint from the emulated root (CLI help,
// a meter claiming a slot, the `chain` role answering JSON-RPC).
//
//   npx tsx infra/checkDockerfile.ts [--dockerfile infra/Dockerfile] [--keep] [--reuse-node-modules]
//
// What it cannot check here: the base images themselves (host tools stand in: node/npm, sh, coreutils), USER and
// --chown (no user switch), VOLUME/EXPOSE. It prints one line per instruction and exits non-zero on the first failure.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "../actors/runtime/freePort.ts";

export type Instruction = { keyword: string; args: string; line: number };

/** Dockerfile → instructions: comments and blank lines dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let buffer = "";
  let startLine = 0;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trimEnd();
    if (buffer === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) return;
    if (buffer !== "" && line.trimStart().startsWith("#")) return; // comment inside a continuation
    if (buffer === "") startLine = index + 1;
    if (line.endsWith("\\")) {
      buffer += line.slice(0, -1); // Docker drops the escaped newline
      return;
    }
    buffer += line;
    const match = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buffer);
    if (match) instructions.push({ keyword: (match[1] as string).toUpperCase(), args: (match[2] as string).trim(), line: startLine });
    buffer = "";
  });
  return instructions;
}

/** `--from=build --chown=1:1 a b dest` → flags and paths (JSON-array form supported). */
export function parseCopy(args: string): { flags: Record<string, string>; sources: string[]; dest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (let match = /^--([a-z-]+)=(\S+)\s+/.exec(rest); match; match = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    flags[match[1] as string] = match[2] as string;
    rest = rest.slice(match[0].length);
  }
  const parts = rest.startsWith("[") ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  return { flags, sources: parts.slice(0, -1), dest: parts.at(-1) as string };
}

/** Top-level names and `**\/*.ext` patterns of a .dockerignore (all this repository uses). */
function ignoredBy(patterns: string[]): (path: string) => boolean {
  return (path) =>
    patterns.some((pattern) => {
      if (pattern.startsWith("**/*")) return path.endsWith(pattern.slice(4));
      return path === pattern || path.startsWith(`${pattern}/`);
    });
}

type Stage = { name: string; root: string; workdir: string; env: Record<string, string>; entrypoint: string[]; cmd: string[] };

function jsonOrShell(args: string): string[] {
  return args.startsWith("[") ? (JSON.parse(args) as string[]) : ["/bin/sh", "-c", args];
}

function log(text: string): void {
  process.stdout.write(`${text}\n`);
}

function copyInto(source: string, dest: string, destIsDir: boolean): void {
  if (statSync(source).isDirectory()) {
    mkdirSync(dest, { recursive: true });
    execFileSync("cp", ["-a", `${source}/.`, `${dest}/`]);
  } else {
    const target = destIsDir ? join(dest, basename(source)) : dest;
    mkdirSync(dirname(target), { recursive: true });
    execFileSync("cp", ["-a", source, target]);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dockerfile: { type: "string", default: "infra/Dockerfile" },
      keep: { type: "boolean", default: false },
      "reuse-node-modules": { type: "boolean", default: false },
    },
  });
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const dockerfile = resolve(repo, values.dockerfile);
  const instructions = parseDockerfile(readFileSync(dockerfile, "utf8"));
  const work = mkdtempSync(join(tmpdir(), "gridveil-dockerfile-"));
  const started = Date.now();
  let failed = false;
  try {
    // The build context: a clean checkout (what git tracks or would add), minus the Dockerfile's ignore file.
    const context = join(work, "context");
    const ignoreFile = `${dockerfile}.dockerignore`;
    const ignore = ignoredBy(
      existsSync(ignoreFile)
        ? readFileSync(ignoreFile, "utf8").split("\n").map((line) => line.trim()).filter((line) => line && !line.startsWith("#"))
        : [],
    );
    const files = execFileSync("git", ["-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], { encoding: "utf8" })
      .split("\0")
      .filter((path) => path && !ignore(path) && existsSync(join(repo, path)));
    mkdirSync(context);
    execFileSync("tar", ["-C", repo, "--null", "-T", "-", "-cf", join(work, "context.tar")], { input: files.join("\0") });
    execFileSync("tar", ["-C", context, "-xf", join(work, "context.tar")]);
    rmSync(join(work, "context.tar"));
    log(`context: ${files.length} files (clean checkout of ${repo}, ${basename(ignoreFile)} applied)`);

    const stages = new Map<string, Stage>();
    let stage: Stage | undefined;
    const args: Record<string, string> = {};
    const mapped = (current: Stage, path: string): string => join(current.root, isAbsolute(path) ? path : join(current.workdir, path));

    for (const instruction of instructions) {
      const label = `${String(instruction.line).padStart(3)} ${instruction.keyword} ${instruction.args.replace(/\s*\n\s*/g, " ").slice(0, 100)}`;
      const t0 = Date.now();
      switch (instruction.keyword) {
        case "ARG": {
          const [name, value] = instruction.args.split("=");
          args[name as string] = value ?? "";
          break;
        }
        case "FROM": {
          const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
          const image = (match?.[1] ?? "").replace(/\$\{(\w+)\}/g, (_all, name: string) => args[name] ?? "");
          const name = match?.[2] ?? String(stages.size);
          stage = { name, root: join(work, `stage-${name}`), workdir: "/", env: {}, entrypoint: [], cmd: [] };
          mkdirSync(stage.root);
          stages.set(name, stage);
          log(`${label}  → stage root ${stage.root} (base image ${image}: host tools stand in)`);
          continue;
        }
        case "WORKDIR":
          if (!stage) throw new Error("WORKDIR before FROM");
          stage.workdir = resolve(stage.workdir, instruction.args);
          mkdirSync(mapped(stage, "."), { recursive: true });
          break;
        case "ENV":
          if (!stage) throw new Error("ENV before FROM");
          for (const match of instruction.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) stage.env[match[1] as string] = (match[2] as string).replace(/^"|"$/g, "");
          break;
        case "COPY": {
          if (!stage) throw new Error("COPY before FROM");
          const { flags, sources, dest } = parseCopy(instruction.args);
          const from = flags.from === undefined ? undefined : stages.get(flags.from);
          if (flags.from !== undefined && !from) throw new Error(`COPY --from=${flags.from}: no such stage`);
          const target = mapped(stage, dest);
          const destIsDir = dest.endsWith("/") || sources.length > 1 || dest === ".";
          for (const source of sources) {
            const path = from ? join(from.root, isAbsolute(source) ? source : join(from.workdir, source)) : join(context, source);
            if (!existsSync(path)) throw new Error(`COPY source missing: ${source}${from ? ` (stage ${from.name})` : " (build context)"}`);
            copyInto(path, target, destIsDir);
          }
          break;
        }
        case "RUN": {
          if (!stage) throw new Error("RUN before FROM");
          const cwd = mapped(stage, ".");
          if (values["reuse-node-modules"] && /^npm (install|ci)\b/.test(instruction.args) && existsSync(join(repo, "node_modules"))) {
            execFileSync("cp", ["-a", join(repo, "node_modules"), join(cwd, "node_modules")]);
            log("      (node_modules copied from the working tree first: --reuse-node-modules)");
          }
          const result = spawnSync("/bin/sh", ["-c", instruction.args], {
            cwd,
            env: { ...process.env, ...stage.env },
            stdio: ["ignore", "inherit", "inherit"],
          });
          if (result.status !== 0) throw new Error(`RUN failed (exit ${result.status ?? result.signal}) at line ${instruction.line}`);
          break;
        }
        case "ENTRYPOINT":
          if (stage) stage.entrypoint = jsonOrShell(instruction.args);
          break;
        case "CMD":
          if (stage) stage.cmd = jsonOrShell(instruction.args);
          break;
        default:
          log(`${label}  (not emulated)`);
          continue;
      }
      log(`${label}  ✓ ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }

    // The final image, started from its emulated root: absolute paths in its ENV and entrypoint moved under it.
    if (!stage) throw new Error("no stage");
    const image = stage;
    const underRoot = (value: string): string => (value.startsWith("/") && !value.startsWith("/tmp") ? join(image.root, value) : value);
    const env: Record<string, string> = { ...process.env } as Record<string, string>;
    for (const [key, value] of Object.entries(image.env)) env[key] = underRoot(value);
    env.PATH = `${join(image.root, "usr/local/bin")}:${process.env.PATH ?? ""}`;
    env.GRIDVEIL_METER_SLOTS_DIR = join(work, "slots");
    env.GRIDVEIL_DATA_DIR = join(work, "data");
    delete env.NATS_URL;
    const entrypoint = [underRoot(image.entrypoint[0] as string), ...image.entrypoint.slice(1)];
    const run = (argv: string[], extraEnv: Record<string, string> = {}): string => {
      const result = spawnSync(entrypoint[0] as string, [...entrypoint.slice(1), ...argv], {
        cwd: join(image.root, image.workdir),
        env: { ...env, ...extraEnv },
        encoding: "utf8",
      });
      if (result.status !== 0) throw new Error(`entrypoint ${argv.join(" ")} exited ${result.status}: ${result.stderr}`);
      return result.stdout + result.stderr;
    };
    const nodeVersion = execFileSync(join(image.root, "usr/local/bin/node"), ["--version"], { encoding: "utf8" }).trim();
    if (!nodeVersion.startsWith("v24.")) throw new Error(`the image's node is ${nodeVersion}, not the bundled Node 24`);
    log(`image: node ${nodeVersion} at /usr/local/bin/node ✓`);
    const help = run(image.cmd);
    for (const command of ["dso", "gateway", "meter", "watch", "diagrams"]) {
      if (!new RegExp(`^\\s+${command}\\b`, "m").test(help)) throw new Error(`\`gridveil --help\` does not list ${command}`);
    }
    log(`image: entrypoint ${image.cmd.join(" ")} lists dso, gateway, meter, watch, diagrams ✓`);
    const meterHelp = run(["meter", "--help"]);
    if (!/meter slot 1: meter-01/.test(meterHelp) || !/--meter-id/.test(meterHelp)) throw new Error(`meter role did not claim a slot: ${meterHelp}`);
    log("image: `meter` claims provisioned slot 1 (meter-01) and runs `gridveil meter` ✓");

    const port = await freePort();
    const chain = spawn(entrypoint[0] as string, [...entrypoint.slice(1), "chain"], {
      cwd: join(image.root, image.workdir),
      env: { ...env, CHAIN_HOST: "127.0.0.1", CHAIN_PORT: String(port) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let chainErr = "";
    chain.stderr.on("data", (chunk: Buffer) => void (chainErr += chunk.toString()));
    try {
      let answer = "";
      for (let attempt = 0; attempt < 120 && !answer; attempt++) {
        await new Promise((done) => setTimeout(done, 500));
        const probe = spawnSync(join(image.root, "usr/local/bin/node"), ["--import", "tsx", join(image.root, "app/infra/healthcheck.ts"), "chain"], {
          cwd: join(image.root, image.workdir),
          env: { ...env, CHAIN_RPC_URL: `http://127.0.0.1:${port}` },
          encoding: "utf8",
        });
        if (probe.status === 0) answer = probe.stdout.trim();
        if (chain.exitCode !== null) throw new Error(`chain role exited ${chain.exitCode}: ${chainErr}`);
      }
      if (!answer) throw new Error(`chain role did not answer JSON-RPC: ${chainErr}`);
      log(`image: \`chain\` serves JSON-RPC (infra/healthcheck.ts chain → ${answer}) ✓`);
    } finally {
      chain.kill("SIGTERM");
    }
    log(`Dockerfile check passed in ${((Date.now() - started) / 1000).toFixed(0)}s (${relative(repo, dockerfile)})`);
  } catch (error) {
    failed = true;
    log(`Dockerfile check FAILED: ${(error as Error).message}`);
  } finally {
    if (values.keep) log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
