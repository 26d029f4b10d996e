// The images of the container market. Where no image registry is reachable they are built here from Debian's
// packages: a minbase Debian (debootstrap, imported once and kept), NATS and a Node build base on top of it
// (infra/images/), then every compose service's `build:` (infra/Dockerfile) with those as its base images.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDockerfile } from "../checkDockerfile.ts";
import { ContainersStepError } from "../errors.ts";
import type { ComposePlan } from "./compose.ts";
import { capture, REPO_ROOT, runLogged, seconds, type Progress } from "./podman.ts";

/** Debian's release the local images are made of; the image tags name it. */
export const DEBIAN_SUITE = "bookworm";
export const DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian";

export const LOCAL_IMAGES = {
  base: `localhost/gridveil-base:${DEBIAN_SUITE}`,
  nats: `localhost/gridveil-nats:${DEBIAN_SUITE}`,
  buildBase: `localhost/gridveil-build-base:${DEBIAN_SUITE}`,
} as const;

/**
 * dpkg's settings in the base, as in Debian's official slim images: no fsync per unpacked file (a throw-away image
 * layer; Debian's npm alone is ~390 packages) and no manuals, docs or translations.
 */
const DPKG_SLIM = `force-unsafe-io
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
`;

/** What DPKG_SLIM keeps out of later installs, removed from what debootstrap installed. */
function slimDown(rootfs: string): void {
  for (const dir of ["usr/share/man", "usr/share/groff", "usr/share/info", "usr/share/lintian"]) rmSync(join(rootfs, dir), { recursive: true, force: true });
  const locale = join(rootfs, "usr/share/locale");
  for (const entry of existsSync(locale) ? readdirSync(locale) : []) if (entry !== "locale.alias") rmSync(join(locale, entry), { recursive: true, force: true });
  const doc = join(rootfs, "usr/share/doc");
  for (const pkg of existsSync(doc) ? readdirSync(doc) : []) {
    const dir = join(doc, pkg);
    if (!lstatSync(dir).isDirectory()) continue;
    for (const entry of readdirSync(dir)) if (entry !== "copyright") rmSync(join(dir, entry), { recursive: true, force: true });
  }
}

/** Where the host keeps the certificates it trusts (Debian's bundle); the local build base trusts the same. */
const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

export type ImageContext = { logDir: string; progress: Progress };

export async function imageExists(image: string): Promise<boolean> {
  return (await capture("podman", ["image", "exists", image])).code === 0;
}

/** Echoes the build's own step lines (`STEP 4/9: RUN npm install …`), cut to one terminal line. */
function buildSteps(progress: Progress, label: string): (line: string) => void {
  return (line) => {
    const step = /(?:^|\] )(STEP \d+\/\d+: .*)$/.exec(line);
    if (step) progress(`  ${label}: ${(step[1] as string).slice(0, 110)}`);
  };
}

/** Marks every image a build here makes, intermediate ones included, so that leftovers can be told from others'. */
const BUILT_BY_LABEL = "io.gridveil.containers.built-by=infra/containers.sh";

async function build(context: ImageContext, label: string, logName: string, args: string[]): Promise<void> {
  const log = join(context.logDir, logName);
  const started = Date.now();
  context.progress(`${label}: podman build (log: ${log})`);
  const code = await runLogged("podman", ["build", "--label", BUILT_BY_LABEL, ...args], {
    log,
    progress: context.progress,
    label,
    onLine: buildSteps(context.progress, label),
  });
  if (code !== 0) throw new ContainersStepError({ step: label, detail: `podman build exited ${code}`, log });
  context.progress(`${label}: built in ${seconds(started)}`);
}

/**
 * Removes the images builds here left untagged before `since` (a replaced image, the stages of an older tree: ~1 GB
 * each time the sources change). What the current images are made of stays: every stage is tagged (see
 * buildServiceImages), and an untagged layer under a tagged image is not dangling.
 */
export async function removeOldBuilds(context: ImageContext, since: number): Promise<void> {
  const pruned = await capture("podman", ["image", "prune", "--force", "--filter", `label=${BUILT_BY_LABEL}`, "--filter", `until=${Math.floor(since / 1000)}`]);
  const removed = pruned.code === 0 ? pruned.stdout.trim().split("\n").filter(Boolean).length : 0;
  if (removed > 0) context.progress(`removed ${removed} images earlier builds left untagged`);
}

/**
 * The Debian base: `debootstrap --variant=minbase` into a scratch directory, apt's lists and caches dropped (every
 * image on it runs `apt-get update` itself), imported with `podman import`. Kept once built: skipped when it exists.
 */
export async function ensureBaseImage(context: ImageContext, mirror: string): Promise<void> {
  if (await imageExists(LOCAL_IMAGES.base)) {
    context.progress(`base image ${LOCAL_IMAGES.base}: present, kept`);
    return;
  }
  const log = join(context.logDir, "debootstrap.log");
  const started = Date.now();
  context.progress(`base image ${LOCAL_IMAGES.base}: debootstrap ${DEBIAN_SUITE} minbase from ${mirror}, about 2 minutes (log: ${log})`);
  // On disk (not a tmpfs): debootstrap needs device nodes and exec, and the tree is ~200 MB.
  const scratch = mkdtempSync("/var/tmp/gridveil-rootfs-");
  const rootfs = join(scratch, "rootfs");
  try {
    const code = await runLogged("debootstrap", ["--variant=minbase", DEBIAN_SUITE, rootfs, mirror], {
      log,
      progress: context.progress,
      label: "debootstrap",
    });
    if (code !== 0) throw new ContainersStepError({ step: "debootstrap", detail: `exited ${code}`, log });
    writeFileSync(join(rootfs, "etc/dpkg/dpkg.cfg.d/gridveil-slim"), DPKG_SLIM);
    slimDown(rootfs);
    for (const dir of ["var/lib/apt/lists", "var/cache/apt"]) {
      rmSync(join(rootfs, dir), { recursive: true, force: true });
      mkdirSync(join(rootfs, dir), { recursive: true });
    }
    mkdirSync(join(rootfs, "var/lib/apt/lists/partial"), { recursive: true });
    mkdirSync(join(rootfs, "var/cache/apt/archives/partial"), { recursive: true });
    const tar = spawn("tar", ["-C", rootfs, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
    const imported = await runLogged("podman", ["import", "--change", 'CMD ["/bin/bash"]', "-", LOCAL_IMAGES.base], {
      log,
      progress: context.progress,
      label: "podman import",
      stdin: tar.stdout,
    });
    if (imported !== 0) throw new ContainersStepError({ step: "podman import", detail: `exited ${imported}`, log });
    context.progress(`base image ${LOCAL_IMAGES.base}: built in ${seconds(started)}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** NATS (Debian's nats-server, plus wget for compose's health check) on the base. Layer-cached by podman. */
export async function buildNatsImage(context: ImageContext): Promise<void> {
  await build(context, `image ${LOCAL_IMAGES.nats}`, "build-nats.log", [
    "--file",
    join(REPO_ROOT, "infra/images/nats.Containerfile"),
    "--build-arg",
    `BASE_IMAGE=${LOCAL_IMAGES.base}`,
    "--tag",
    LOCAL_IMAGES.nats,
    join(REPO_ROOT, "infra/images"),
  ]);
}

/** Debian's nodejs and npm on the base, trusting the host's certificates (see infra/images/build-base.Containerfile). */
export async function buildBuildBaseImage(context: ImageContext): Promise<void> {
  if (!existsSync(HOST_CA_BUNDLE)) {
    throw new ContainersStepError({ step: `image ${LOCAL_IMAGES.buildBase}`, detail: `${HOST_CA_BUNDLE} is missing`, hint: "apt-get install -y ca-certificates" });
  }
  const buildContext = mkdtempSync(join(context.logDir, "build-base-context-"));
  try {
    copyFileSync(join(REPO_ROOT, "infra/images/build-base.Containerfile"), join(buildContext, "Containerfile"));
    copyFileSync(HOST_CA_BUNDLE, join(buildContext, "host-ca-certificates.crt"));
    await build(context, `image ${LOCAL_IMAGES.buildBase}`, "build-build-base.log", [
      "--file",
      join(buildContext, "Containerfile"),
      "--build-arg",
      `BASE_IMAGE=${LOCAL_IMAGES.base}`,
      "--tag",
      LOCAL_IMAGES.buildBase,
      buildContext,
    ]);
  } finally {
    rmSync(buildContext, { recursive: true, force: true });
  }
}

/** The named stages of a Dockerfile before its last (`FROM … AS build`): what the final image copies from. */
export function earlierStages(dockerfileText: string): string[] {
  const stages = parseDockerfile(dockerfileText)
    .filter((instruction) => instruction.keyword === "FROM")
    .map((instruction) => /\sAS\s+(\S+)$/i.exec(instruction.args)?.[1]);
  return stages.slice(0, -1).filter((stage): stage is string => stage !== undefined);
}

/**
 * Every image a service of the plan builds (`build:`), once each, with the given build arguments. The build context's
 * ignore file is `<dockerfile>.dockerignore` when it exists, as BuildKit reads it. Each earlier stage is built and
 * tagged first (`gridveil:dev-build`): the final image only copies files from it, so untagged it would be pruned and
 * its layers (`npm install` above all) rebuilt next time; the final build then finds it in the cache.
 */
export async function buildServiceImages(context: ImageContext, plan: ComposePlan, buildArgs: Readonly<Record<string, string>>): Promise<string[]> {
  const built: string[] = [];
  for (const service of plan.services) {
    if (!service.build || built.includes(service.image)) continue;
    const dockerfile = join(service.build.context, service.build.dockerfile);
    const ignoreFile = `${dockerfile}.dockerignore`;
    const args = ["--file", dockerfile, ...(existsSync(ignoreFile) ? ["--ignorefile", ignoreFile] : [])];
    for (const [name, value] of Object.entries(buildArgs)) args.push("--build-arg", `${name}=${value}`);
    const logName = (suffix: string) => `build-${service.image.replace(/[^A-Za-z0-9.-]+/g, "-")}${suffix}.log`;
    for (const stage of earlierStages(readFileSync(dockerfile, "utf8"))) {
      await build(context, `image ${service.image}, stage ${stage}`, logName(`-${stage}`), [...args, "--target", stage, "--tag", `${service.image}-${stage}`, service.build.context]);
    }
    await build(context, `image ${service.image}`, logName(""), [...args, "--tag", service.image, service.build.context]);
    built.push(service.image);
  }
  return built;
}

/** Images a service runs without building them must be here already: no registry is asked. */
export async function requireServiceImages(plan: ComposePlan): Promise<void> {
  for (const service of plan.services) {
    if (service.build || (await imageExists(service.image))) continue;
    throw new ContainersStepError({
      step: `service ${service.name}`,
      detail: `image ${service.image} is not in podman's storage`,
      hint: service.image.startsWith("localhost/") ? "infra/containers.sh images builds the local images" : `podman pull ${service.image}, or run with the local images`,
    });
  }
}
