// Provisioning of a compose market: NATS users with least-privilege permissions (from natsPermissions), the DSO's
// meter registry and the meters' credentials — generated together, so the three always agree.
//
//   npx tsx infra/provision.ts [--market m1] [--meters 16] [--seed <secret>] [--out infra] [--check]
//
// Without --seed the material is the well-known development set committed in this repository (like Hardhat's
// accounts: for a laptop, never for a grid). With a secret seed, write it somewhere that is not committed.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Wallet, keccak256, toUtf8Bytes } from "ethers";
import { devAccountKeys } from "../actors/chain/localChain.ts";
import { buildProfiles } from "../actors/meter/profiles.ts";
import { SUBJECT_ROOT, marketSubjects, natsPermissions, type SubjectPermissions } from "../protocol/wire/subjects.ts";
import { provisionDefaults } from "../actors/config/tools.ts";

export const DEV_SEED = "gridveil-development-only";
/** The demo plans: bids over this many rounds at the DSO's default price levels (machines/config.ts). */
export const PLAN_ROUNDS = 4;
export const PLAN_LEVELS = 10;

/** One NATS user of the generated configuration (nats-server `authorization.users[]`). */
export type NatsUser = {
  user: string;
  password: string;
  permissions: { publish: { allow?: string[]; deny?: string[] }; subscribe: { allow?: string[]; deny?: string[] } };
};

/** What one meter container needs; the slot it claims at start (infra/claimMeterSlot.ts) picks one of these. */
export type MeterCredentials = {
  slot: number;
  /** Permanent id in the DSO registry. */
  meterId: string;
  name: string;
  /** Address of the long-term key (what the registry holds). */
  address: string;
  privateKey: string;
  /** Opaque inbox id = the meter's NATS user name: its subjects are `gridveil.<market>.meter.<inboxId>.>`. */
  inboxId: string;
  natsUser: string;
  natsPassword: string;
  /** The meter's planned bids (`gridveil meter --plan`), relative to the provisioning directory. */
  plan: string;
};

export type PlannedBidFile = { planId: string; side: "buy" | "sell"; priceLevel: number; quantityWh: number }[];

export type RegistryEntry = { meterId: string; address: string; name: string; inboxId: string };

export type Provisioning = {
  market: string;
  users: NatsUser[];
  meters: MeterCredentials[];
  registry: RegistryEntry[];
  /** Plan file (relative to the provisioning directory) → planned bids. */
  plans: Map<string, PlannedBidFile>;
  /** Per-role environment files for compose (`env_file:`): NATS credentials and keys. */
  envFiles: Record<"dso" | "gateway" | "watch" | "health", Record<string, string>>;
};

/** Deterministic secret material from the seed: `label` names what it is for, so no two uses share a value. */
function derive(seed: string, label: string): string {
  return keccak256(toUtf8Bytes(`${seed}/${label}`));
}

function password(seed: string, user: string): string {
  return derive(seed, `nats-password/${user}`).slice(2, 34);
}

/** The observer role of `gridveil watch`: reads state snapshots, publishes nothing. */
export function watchPermissions(market: string): SubjectPermissions & { publish: { allow: string[]; deny: string[] } } {
  const base = `${SUBJECT_ROOT}.${marketSubjects(market).marketId}`;
  return {
    publish: { allow: [], deny: [">"] },
    subscribe: { allow: [`${base}.*.state`, `${base}.meter.*.state`] },
  };
}

export function provision(options: { market?: string; meters?: number; seed?: string; rounds?: number } = {}): Provisioning {
  const market = options.market ?? provisionDefaults.market;
  const slots = options.meters ?? provisionDefaults.meterSlots;
  const seed = options.seed ?? DEV_SEED;
  marketSubjects(market); // validates the market id
  if (!Number.isInteger(slots) || slots < 1 || slots > 999) throw new RangeError(`meters must be 1–999, got ${slots}`);

  // Prosumer profiles (PV households, consumers, prosumers) as in `gridveil demo`, one per slot.
  const profiles = buildProfiles({ meters: slots, rounds: options.rounds ?? PLAN_ROUNDS, levels: PLAN_LEVELS, seed: 1 });
  const plans = new Map<string, PlannedBidFile>();
  const meters: MeterCredentials[] = Array.from({ length: slots }, (_, index) => {
    const slot = index + 1;
    const number = String(slot).padStart(2, "0");
    const wallet = new Wallet(derive(seed, `meter-key/${slot}`));
    // 16 hex: unlinkable to the permanent id for anyone without this file (the DSO and the operator of NATS).
    const inboxId = derive(seed, `meter-inbox/${slot}`).slice(2, 18);
    const plan = `plans/meter-${number}.json`;
    plans.set(
      plan,
      (profiles[index]?.bids ?? []).map(({ planId, side, priceLevel, quantityWh }) => ({ planId, side, priceLevel, quantityWh })),
    );
    return {
      slot,
      meterId: `meter-${number}`,
      name: `Meter ${number}`,
      address: wallet.address,
      privateKey: wallet.privateKey,
      inboxId,
      natsUser: inboxId,
      natsPassword: password(seed, inboxId),
      plan,
    };
  });
  const watch = watchPermissions(market);
  const users: NatsUser[] = [
    { user: "dso", password: password(seed, "dso"), permissions: natsPermissions(market, "dso") },
    { user: "gateway", password: password(seed, "gateway"), permissions: natsPermissions(market, "gateway") },
    { user: "watch", password: password(seed, "watch"), permissions: { publish: { deny: watch.publish.deny }, subscribe: watch.subscribe } },
    ...meters.map((meter) => ({
      user: meter.natsUser,
      password: meter.natsPassword,
      permissions: natsPermissions(market, "meter", meter.inboxId),
    })),
  ];
  // The chain accounts: Hardhat's funded development accounts 0 (DSO) and 1 (gateway) on the dev node; with a
  // seed, fresh keys (fund them on your chain).
  const [dsoKey, gatewayKey] = options.seed === undefined ? devAccountKeys(2) : [derive(seed, "dso-key"), derive(seed, "gateway-key")];
  const credentials = (user: string): Record<string, string> => ({
    NATS_USER: user,
    NATS_PASSWORD: users.find((entry) => entry.user === user)?.password ?? "",
  });
  return {
    market,
    users,
    meters,
    registry: meters.map(({ meterId, address, name, inboxId }) => ({ meterId, address, name, inboxId })),
    plans,
    envFiles: {
      dso: { ...credentials("dso"), GRIDVEIL_DSO_KEY: dsoKey as string },
      gateway: { ...credentials("gateway"), GRIDVEIL_GATEWAY_KEY: gatewayKey as string },
      watch: credentials("watch"),
      // Health checks that read state snapshots connect as the observer, whatever role their container runs.
      health: { GRIDVEIL_HEALTH_NATS_USER: "watch", GRIDVEIL_HEALTH_NATS_PASSWORD: credentials("watch").NATS_PASSWORD as string },
    },
  };
}

/** Where the server listens and keeps JetStream: the compose container's by default, a market of processes' own. */
export type NatsServerPlace = { port: number; httpPort: number; storeDir: string; host?: string };

export const COMPOSE_NATS_PLACE: NatsServerPlace = { port: 4222, httpPort: 8222, storeDir: "/data/jetstream" };

/** nats-server configuration (JSON is valid nats.conf syntax inside a block). Server settings come first. */
export function renderNatsConf(provisioning: Provisioning, place: NatsServerPlace = COMPOSE_NATS_PLACE): string {
  const header = [
    "# gridveil NATS server — generated by `npx tsx infra/provision.ts`; do not edit by hand (test/infra checks it).",
    `# Market ${provisioning.market}: one user per role with least-privilege permissions from natsPermissions`,
    "# (protocol/wire/subjects.ts); meters are users named by their opaque inbox id. Development passwords:",
    "# regenerate with --seed <secret> for anything but a laptop.",
    "server_name: gridveil-nats",
    ...(place.host === undefined ? [] : [`host: ${JSON.stringify(place.host)}`]),
    `port: ${place.port}`,
    `http_port: ${place.httpPort}`,
    `jetstream { store_dir: ${JSON.stringify(place.storeDir)} }`,
    "",
  ];
  const users = provisioning.users.map((user) => `    ${JSON.stringify(user)}`).join(",\n");
  return `${header.join("\n")}authorization {\n  users: [\n${users}\n  ]\n}\n`;
}

function renderEnv(values: Record<string, string>, role: string): string {
  const lines = [`# ${role}: generated by infra/provision.ts (development credentials)`];
  for (const [key, value] of Object.entries(values)) lines.push(`${key}=${value}`);
  return `${lines.join("\n")}\n`;
}

/** Every generated file, relative to the infra directory. */
export function renderProvisioningFiles(provisioning: Provisioning): Map<string, string> {
  const files = new Map<string, string>();
  files.set("nats/nats.conf", renderNatsConf(provisioning));
  files.set("provision/registry.json", `${JSON.stringify(provisioning.registry, null, 2)}\n`);
  files.set("provision/meters.json", `${JSON.stringify(provisioning.meters, null, 2)}\n`);
  for (const [plan, bids] of provisioning.plans) files.set(`provision/${plan}`, `${JSON.stringify(bids, null, 2)}\n`);
  for (const [role, values] of Object.entries(provisioning.envFiles)) files.set(`provision/${role}.env`, renderEnv(values, role));
  return files;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      market: { type: "string", default: provisionDefaults.market },
      meters: { type: "string", default: String(provisionDefaults.meterSlots) },
      seed: { type: "string" },
      out: { type: "string", default: dirname(fileURLToPath(import.meta.url)) },
      check: { type: "boolean", default: false },
    },
  });
  const files = renderProvisioningFiles(
    provision({ market: values.market, meters: Number(values.meters), ...(values.seed === undefined ? {} : { seed: values.seed }) }),
  );
  const out = resolve(values.out);
  const stale: string[] = [];
  for (const [name, content] of files) {
    const path = join(out, name);
    if (values.check) {
      let current: string | undefined;
      try {
        current = readFileSync(path, "utf8");
      } catch {
        current = undefined;
      }
      if (current !== content) stale.push(name);
      continue;
    }
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
  if (values.check && stale.length > 0) {
    process.stderr.write(`provisioning out of date in ${out}: ${stale.join(", ")} (run npx tsx infra/provision.ts)\n`);
    process.exit(1);
  }
  process.stdout.write(`${values.check ? "checked" : "wrote"} ${[...files.keys()].join(", ")} in ${out}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
