// infra/compose.yaml read as Compose reads it, for a run without Compose (infra/containers/market.ts): variables
// interpolated, anchors and `<<` merges resolved, profiles applied, services in start order, and each replica's
// `podman run` arguments. Keys this reader does not translate are refused, so the file cannot grow a setting that
// the podman run would silently drop.
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { ComposeFileError } from "../errors.ts";

const duration = z.string().regex(/^(\d+(ms|s|m|h))+$/, "a duration such as 5s or 1m30s");

const healthcheckSchema = z.strictObject({
  test: z
    .array(z.string())
    .min(2)
    .refine((test) => test[0] === "CMD" || test[0] === "CMD-SHELL", 'the exec form ["CMD", …] or ["CMD-SHELL", "…"]'),
  interval: duration,
  timeout: duration,
  retries: z.int().positive(),
  start_period: duration.optional(),
});

const serviceSchema = z.strictObject({
  image: z.string().min(1),
  build: z.strictObject({ context: z.string(), dockerfile: z.string() }).optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  env_file: z.array(z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  ports: z.array(z.string()).optional(),
  healthcheck: healthcheckSchema.optional(),
  restart: z.enum(["no", "always", "on-failure", "unless-stopped"]).optional(),
  depends_on: z.record(z.string(), z.strictObject({ condition: z.enum(["service_started", "service_healthy"]) })).optional(),
  profiles: z.array(z.string()).optional(),
});
type ServiceDefinition = z.output<typeof serviceSchema>;

const fileSchema = z
  .object({
    services: z.record(z.string(), serviceSchema),
    volumes: z.record(z.string(), z.null()).optional(),
  })
  .catchall(z.unknown())
  .superRefine((file, context) => {
    for (const key of Object.keys(file)) {
      if (key !== "services" && key !== "volumes" && !key.startsWith("x-")) {
        context.addIssue({ code: "custom", path: [key], message: "a top-level key this reader does not translate" });
      }
    }
  });

export type HealthCheck = { test: string[]; intervalMs: number; timeoutMs: number; retries: number; startPeriodMs: number };

export type Mount = { kind: "volume"; name: string; target: string; readOnly: boolean } | { kind: "bind"; source: string; target: string; readOnly: boolean };

export type Service = {
  name: string;
  image: string;
  build?: { context: string; dockerfile: string } | undefined;
  command: string[];
  /** env_file entries first, then `environment` over them, as Compose merges them. */
  environment: Record<string, string>;
  mounts: Mount[];
  /** "host:container" as written. */
  ports: string[];
  healthcheck?: HealthCheck | undefined;
  restart?: string | undefined;
  dependsOn: { service: string; condition: "service_started" | "service_healthy" }[];
};

export type ComposePlan = {
  file: string;
  /** Services of the active profiles, each after everything it depends on. */
  services: Service[];
  /** Top-level named volumes used by the active services. */
  volumes: string[];
};

export function durationMs(text: string): number {
  let total = 0;
  for (const match of text.matchAll(/(\d+)(ms|s|m|h)/g)) {
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as "ms" | "s" | "m" | "h"];
    total += Number(match[1]) * unit;
  }
  return total;
}

/** `${NAME}`, `${NAME:-default}` (unset or empty), `${NAME-default}` (unset) and `$$`, as Compose substitutes them. */
export function interpolate(text: string, variables: Readonly<Record<string, string | undefined>>, where: string): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$\{[^}]*\}?|\$/g, (whole, name?: string, operator?: string, fallback?: string) => {
    if (whole === "$$") return "$";
    if (!name) throw new ComposeFileError({ where, detail: `${JSON.stringify(whole)} in ${JSON.stringify(text)}: only \${NAME}, \${NAME:-default}, \${NAME-default} and $$ are read` });
    const value = variables[name];
    if (operator === ":-") return value === undefined || value === "" ? (fallback ?? "") : value;
    if (operator === "-") return value === undefined ? (fallback ?? "") : value;
    return value ?? "";
  });
}

function interpolateAll(value: unknown, variables: Readonly<Record<string, string | undefined>>, where: string): unknown {
  if (typeof value === "string") return interpolate(value, variables, where);
  if (Array.isArray(value)) return value.map((entry, index) => interpolateAll(entry, variables, `${where}[${index}]`));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, interpolateAll(entry, variables, `${where}.${key}`)]));
  }
  return value;
}

/** KEY=VALUE lines; `#` comments and blank lines skipped (the env files infra/provision.ts writes). */
export function readEnvFile(path: string): Record<string, string> {
  const entries: Record<string, string> = {};
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, index) => {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#")) return;
      const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
      if (!match) throw new ComposeFileError({ where: `${path}:${index + 1}`, detail: `not a KEY=VALUE line: ${JSON.stringify(line)}` });
      entries[match[1] as string] = match[2] as string;
    });
  return entries;
}

function mountOf(spec: string, composeDir: string, declaredVolumes: ReadonlySet<string>, where: string): Mount {
  const parts = spec.split(":");
  if (parts.length < 2 || parts.length > 3 || (parts[2] !== undefined && parts[2] !== "ro" && parts[2] !== "rw")) {
    throw new ComposeFileError({ where, detail: `a volume is SOURCE:TARGET[:ro|rw], not ${JSON.stringify(spec)}` });
  }
  const [source, target, mode] = parts as [string, string, string | undefined];
  const readOnly = mode === "ro";
  if (source.startsWith(".") || isAbsolute(source)) {
    const path = resolve(composeDir, source);
    if (!existsSync(path)) throw new ComposeFileError({ where, detail: `the bind-mounted ${path} does not exist` });
    return { kind: "bind", source: path, target, readOnly };
  }
  if (!declaredVolumes.has(source)) throw new ComposeFileError({ where, detail: `the named volume ${source} is not declared under the top-level volumes:` });
  return { kind: "volume", name: source, target, readOnly };
}

function healthcheckOf(definition: NonNullable<ServiceDefinition["healthcheck"]>): HealthCheck {
  return {
    test: definition.test,
    intervalMs: durationMs(definition.interval),
    timeoutMs: durationMs(definition.timeout),
    retries: definition.retries,
    startPeriodMs: definition.start_period ? durationMs(definition.start_period) : 0,
  };
}

function serviceOf(name: string, definition: ServiceDefinition, composeDir: string, declaredVolumes: ReadonlySet<string>, variables: Readonly<Record<string, string | undefined>>): Service {
  const environment: Record<string, string> = {};
  for (const file of definition.env_file ?? []) Object.assign(environment, readEnvFile(resolve(composeDir, file)));
  for (const [key, value] of Object.entries(definition.environment ?? {})) {
    // A bare `KEY:` passes the caller's value through, as Compose does; unset, the variable is left out.
    const passed = value === null ? variables[key] : String(value);
    if (passed !== undefined) environment[key] = passed;
  }
  return {
    name,
    image: definition.image,
    build: definition.build ? { context: resolve(composeDir, definition.build.context), dockerfile: definition.build.dockerfile } : undefined,
    command: definition.command ?? [],
    environment,
    mounts: (definition.volumes ?? []).map((spec, index) => mountOf(spec, composeDir, declaredVolumes, `services.${name}.volumes[${index}]`)),
    ports: definition.ports ?? [],
    healthcheck: definition.healthcheck ? healthcheckOf(definition.healthcheck) : undefined,
    restart: definition.restart,
    dependsOn: Object.entries(definition.depends_on ?? {}).map(([service, { condition }]) => ({ service, condition })),
  };
}

/** Each service after its dependencies; among services free to start, file order. */
function startOrder(services: Map<string, Service>): Service[] {
  const ordered: Service[] = [];
  const placed = new Set<string>();
  while (placed.size < services.size) {
    const next = [...services.values()].find((service) => !placed.has(service.name) && service.dependsOn.every((dependency) => placed.has(dependency.service)));
    if (!next) {
      const left = [...services.keys()].filter((name) => !placed.has(name));
      throw new ComposeFileError({ where: "services", detail: `depends_on has a cycle among ${left.join(", ")}` });
    }
    ordered.push(next);
    placed.add(next.name);
  }
  return ordered;
}

/**
 * Reads a compose file for the given profiles: a service with `profiles:` runs only when one of them is active; an
 * active service that depends on an inactive or unknown one is an error (Compose refuses it too).
 */
export function readComposeFile(file: string, options: { profiles?: readonly string[]; variables?: Readonly<Record<string, string | undefined>> } = {}): ComposePlan {
  const variables = options.variables ?? process.env;
  const profiles = new Set(options.profiles ?? []);
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, "utf8"), { merge: true });
  } catch (error) {
    throw new ComposeFileError({ where: file, detail: (error as Error).message });
  }
  const parsed = fileSchema.safeParse(interpolateAll(raw, variables, "compose"));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ComposeFileError({ where: `${file}: ${issue?.path.join(".") ?? ""}`, detail: issue?.message ?? "invalid" });
  }
  const composeDir = dirname(file);
  const declaredVolumes = new Set(Object.keys(parsed.data.volumes ?? {}));
  const active = new Map<string, Service>();
  for (const [name, definition] of Object.entries(parsed.data.services)) {
    if (definition.profiles && !definition.profiles.some((profile) => profiles.has(profile))) continue;
    active.set(name, serviceOf(name, definition, composeDir, declaredVolumes, variables));
  }
  for (const service of active.values()) {
    for (const dependency of service.dependsOn) {
      const target = active.get(dependency.service);
      if (!target) {
        const why = dependency.service in parsed.data.services ? "is not in an active profile" : "is not defined";
        throw new ComposeFileError({ where: `services.${service.name}.depends_on`, detail: `${dependency.service} ${why}` });
      }
      if (dependency.condition === "service_healthy" && !target.healthcheck) {
        throw new ComposeFileError({ where: `services.${service.name}.depends_on`, detail: `${dependency.service} has no healthcheck to be healthy by` });
      }
    }
  }
  const services = startOrder(active);
  const volumes = [...new Set(services.flatMap((service) => service.mounts.flatMap((mount) => (mount.kind === "volume" ? [mount.name] : []))))];
  return { file, services, volumes };
}

export type RunNames = { project: string; network: string };

export const PROJECT_LABEL = "io.gridveil.containers.project";
export const SERVICE_LABEL = "io.gridveil.containers.service";

export function containerName(names: RunNames, service: string, replica: number): string {
  return `${names.project}-${service}-${replica}`;
}

export function volumeName(names: RunNames, volume: string): string {
  return `${names.project}_${volume}`;
}

/**
 * The `podman run` arguments of one replica: on the project's network under the service's name (DNS, as Compose
 * gives it), named volumes prefixed with the project, the health check registered but not scheduled (podman schedules
 * checks with systemd timers; infra/containers/market.ts runs them with `podman healthcheck run` instead).
 */
export function runArguments(names: RunNames, service: Service, replica: number, options: { publishPorts: boolean }): string[] {
  const args = ["run", "--detach", "--name", containerName(names, service.name, replica)];
  args.push("--label", `${PROJECT_LABEL}=${names.project}`, "--label", `${SERVICE_LABEL}=${service.name}`);
  args.push("--network", names.network, "--network-alias", service.name);
  for (const [key, value] of Object.entries(service.environment)) args.push("--env", `${key}=${value}`);
  for (const mount of service.mounts) {
    const source = mount.kind === "volume" ? volumeName(names, mount.name) : mount.source;
    args.push("--volume", `${source}:${mount.target}${mount.readOnly ? ":ro" : ""}`);
  }
  if (options.publishPorts) for (const port of service.ports) args.push("--publish", port);
  if (service.restart) args.push("--restart", service.restart);
  if (service.healthcheck) {
    const [kind, ...command] = service.healthcheck.test;
    args.push("--health-cmd", kind === "CMD" ? JSON.stringify(command) : command.join(" "));
    args.push("--health-interval", "disable", "--health-timeout", `${service.healthcheck.timeoutMs}ms`, "--health-retries", String(service.healthcheck.retries));
  }
  args.push(service.image, ...service.command);
  return args;
}
