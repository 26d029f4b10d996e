// Container health checks (compose `healthcheck:`), exit 0 when healthy:
//   chain            — the JSON-RPC node answers eth_chainId (CHAIN_RPC_URL, default http://127.0.0.1:8545)
//   dso              — the DSO answers the public market-description request (it is serving)
//   snapshot <party> — <party> (dso|gateway) published a live state snapshot within the wait (needs an observer:
//                      GRIDVEIL_HEALTH_NATS_USER/PASSWORD, e.g. the `watch` user)
// NATS_URL, GRIDVEIL_MARKET, NATS_USER/NATS_PASSWORD as for the actors.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { tryDecode } from "../actors/nats/codec.ts";
import { stateSnapshotSchema } from "../protocol/wire/schemas.ts";
import { chainAnswers, dsoServes } from "./health.ts";
import { marketSubjects } from "../protocol/wire/subjects.ts";

const TIMEOUT_MS = Number(process.env.GRIDVEIL_HEALTH_TIMEOUT_MS ?? 3_000);

async function natsAs(user: string | undefined, pass: string | undefined): Promise<NatsConnection> {
  return connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222", timeout: TIMEOUT_MS, ...(user ? { user, pass } : {}) });
}

async function chainHealthy(): Promise<string> {
  return `chain ${await chainAnswers(process.env.CHAIN_RPC_URL ?? "http://127.0.0.1:8545", TIMEOUT_MS)}`;
}

async function dsoHealthy(market: string): Promise<string> {
  const description = await dsoServes({
    natsUrl: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
    user: process.env.NATS_USER,
    pass: process.env.NATS_PASSWORD,
    market,
    timeoutMs: TIMEOUT_MS,
  });
  return `market ${description.marketId} at ${description.contractAddress}`;
}

async function snapshotHealthy(market: string, party: "dso" | "gateway"): Promise<string> {
  const nc = await natsAs(
    process.env.GRIDVEIL_HEALTH_NATS_USER ?? process.env.NATS_USER,
    process.env.GRIDVEIL_HEALTH_NATS_PASSWORD ?? process.env.NATS_PASSWORD,
  );
  try {
    const subject = marketSubjects(market)[party].state;
    const sub = nc.subscribe(subject, { timeout: TIMEOUT_MS });
    for await (const msg of sub) {
      const decoded = tryDecode(stateSnapshotSchema, msg);
      if (decoded.ok && decoded.value.summary.status === "active") return `${party} ${JSON.stringify(decoded.value.state)}`;
    }
    throw new Error(`no live ${party} snapshot`);
  } finally {
    await nc.close();
  }
}

const [check, party] = process.argv.slice(2);
const market = process.env.GRIDVEIL_MARKET ?? "m1";
try {
  const detail =
    check === "chain"
      ? await chainHealthy()
      : check === "dso"
        ? await dsoHealthy(market)
        : check === "snapshot" && (party === "dso" || party === "gateway")
          ? await snapshotHealthy(market, party)
          : (() => {
              throw new Error("usage: healthcheck.ts chain | dso | snapshot dso|gateway");
            })();
  process.stdout.write(`healthy: ${detail}\n`);
  process.exit(0);
} catch (error) {
  process.stdout.write(`unhealthy: ${(error as Error).message}\n`);
  process.exit(1);
}
