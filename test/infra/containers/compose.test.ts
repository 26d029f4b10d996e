// infra/containers/compose.ts: the compose reader behind infra/containers.sh, on small compose files written here —
// Compose's variable forms, profiles and start order, and the refusals that keep the podman run from dropping a
// setting silently. The real infra/compose.yaml is read in test/infra/compose.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { durationMs, interpolate, readComposeFile, runArguments } from "../../../infra/containers/compose.ts";
import { ComposeFileError } from "../../../infra/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "gridveil-compose-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function composeFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const market = composeFile(
  "market.yaml",
  `x-base: &base
  image: app:dev
  environment: &env
    SHARED: "1"
    FROM_ENV_FILE: overridden
services:
  web:
    <<: *base
    command: ["web"]
    env_file: [./web.env]
    environment:
      <<: *env
      PORT: 8080
      PASSED:
    depends_on:
      db:
        condition: service_healthy
    ports: ["8080:8080"]
  db:
    image: \${DB_IMAGE:-db:1}
    volumes:
      - db-data:/var/db
      - ./web.env:/etc/web.env:ro
    healthcheck:
      test: ["CMD-SHELL", "db-ready --quick"]
      interval: 1m30s
      timeout: 500ms
      retries: 3
    restart: unless-stopped
  trace:
    image: tracer:1
    profiles: ["tracing"]
volumes:
  db-data:
`,
);
writeFileSync(join(dir, "web.env"), "# comment\nFROM_ENV_FILE=file\nONLY_IN_FILE=yes\n");

describe("the compose reader", () => {
  it("substitutes ${NAME}, ${NAME:-default}, ${NAME-default} and $$ as Compose does, and refuses other forms", () => {
    const variables = { SET: "v", EMPTY: "" };
    expect(interpolate("a${SET}b", variables, "x")).toBe("avb");
    expect(interpolate("${UNSET}", variables, "x")).toBe("");
    expect(interpolate("${EMPTY:-d} ${UNSET:-d} ${SET:-d}", variables, "x")).toBe("d d v");
    expect(interpolate("${EMPTY-d}|${UNSET-d}", variables, "x")).toBe("|d");
    expect(interpolate("cost $$5", variables, "x")).toBe("cost $5");
    expect(() => interpolate("${NAME:?required}", variables, "x")).toThrow(ComposeFileError);
    expect(() => interpolate("$NAME", variables, "x")).toThrow(/only \$\{NAME\}/);
    expect(durationMs("1m30s")).toBe(90_000);
    expect(durationMs("500ms")).toBe(500);
  });

  it("applies profiles, orders services after their dependencies and merges env files under environment", () => {
    const plan = readComposeFile(market, { variables: { PASSED: "from-caller" } });
    expect(plan.services.map((service) => service.name)).toEqual(["db", "web"]);
    expect(plan.volumes).toEqual(["db-data"]);
    const [db, web] = plan.services;
    expect(db?.image).toBe("db:1");
    expect(db?.healthcheck).toEqual({ test: ["CMD-SHELL", "db-ready --quick"], intervalMs: 90_000, timeoutMs: 500, retries: 3, startPeriodMs: 0 });
    expect(db?.mounts).toEqual([
      { kind: "volume", name: "db-data", target: "/var/db", readOnly: false },
      { kind: "bind", source: join(dir, "web.env"), target: "/etc/web.env", readOnly: true },
    ]);
    expect(web?.environment).toEqual({ FROM_ENV_FILE: "overridden", ONLY_IN_FILE: "yes", SHARED: "1", PORT: "8080", PASSED: "from-caller" });
    expect(readComposeFile(market, { variables: { DB_IMAGE: "db:2" }, profiles: ["tracing"] }).services.map((service) => `${service.name}=${service.image}`)).toEqual([
      "db=db:2",
      "web=app:dev",
      "trace=tracer:1",
    ]);
  });

  it("gives each replica its podman run: project network and alias, prefixed volumes, ports only when asked, health checks unscheduled", () => {
    const [db, web] = readComposeFile(market, { variables: {} }).services;
    const names = { project: "p", network: "p_default" };
    expect(runArguments(names, db!, 1, { publishPorts: true })).toEqual([
      "run", "--detach", "--name", "p-db-1",
      "--label", "io.gridveil.containers.project=p", "--label", "io.gridveil.containers.service=db",
      "--network", "p_default", "--network-alias", "db",
      "--volume", "p_db-data:/var/db", "--volume", `${join(dir, "web.env")}:/etc/web.env:ro`,
      "--restart", "unless-stopped",
      "--health-cmd", "db-ready --quick", "--health-interval", "disable", "--health-timeout", "500ms", "--health-retries", "3",
      "db:1",
    ]); // prettier-ignore
    const webRun = runArguments(names, web!, 2, { publishPorts: false });
    expect(webRun.slice(0, 4)).toEqual(["run", "--detach", "--name", "p-web-2"]);
    expect(webRun).not.toContain("--publish");
    expect(webRun.slice(-2)).toEqual(["app:dev", "web"]);
    expect(runArguments(names, web!, 1, { publishPorts: true })).toContain("8080:8080");
  });

  it("refuses what it would not translate: unknown keys, a dependency outside the active profiles, a missing bind source", () => {
    const unknownKey = composeFile("unknown.yaml", "services:\n  a:\n    image: a\n    cap_add: [NET_ADMIN]\n");
    expect(() => readComposeFile(unknownKey, { variables: {} })).toThrow(/services\.a: Unrecognized key: "cap_add"/);
    const topLevel = composeFile("top.yaml", "services:\n  a:\n    image: a\nnetworks:\n  n: {}\n");
    expect(() => readComposeFile(topLevel, { variables: {} })).toThrow(/networks: a top-level key this reader does not translate/);
    const inactive = composeFile(
      "inactive.yaml",
      "services:\n  a:\n    image: a\n    depends_on:\n      t:\n        condition: service_started\n  t:\n    image: t\n    profiles: [tracing]\n",
    );
    expect(() => readComposeFile(inactive, { variables: {} })).toThrow(/services\.a\.depends_on: t is not in an active profile/);
    expect(readComposeFile(inactive, { variables: {}, profiles: ["tracing"] }).services.map((service) => service.name)).toEqual(["t", "a"]);
    const unhealthy = composeFile("unhealthy.yaml", "services:\n  a:\n    image: a\n    depends_on:\n      b:\n        condition: service_healthy\n  b:\n    image: b\n");
    expect(() => readComposeFile(unhealthy, { variables: {} })).toThrow(/b has no healthcheck to be healthy by/);
    const cycle = composeFile(
      "cycle.yaml",
      "services:\n  a:\n    image: a\n    depends_on:\n      b:\n        condition: service_started\n  b:\n    image: b\n    depends_on:\n      a:\n        condition: service_started\n",
    );
    expect(() => readComposeFile(cycle, { variables: {} })).toThrow(/depends_on has a cycle among a, b/);
    const missingBind = composeFile("bind.yaml", "services:\n  a:\n    image: a\n    volumes: [./nowhere.conf:/etc/x.conf:ro]\n");
    expect(() => readComposeFile(missingBind, { variables: {} })).toThrow(/nowhere\.conf does not exist/);
    const undeclared = composeFile("volume.yaml", "services:\n  a:\n    image: a\n    volumes: [data:/data]\n");
    expect(() => readComposeFile(undeclared, { variables: {} })).toThrow(/the named volume data is not declared/);
  });
});
