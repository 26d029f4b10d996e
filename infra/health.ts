// Whether a chain node and the DSO are up: what the container health checks (infra/healthcheck.ts) and
// `gridveil market up` (infra/market.ts) both wait for. Each throws with the reason when the party is not ready.
import { connect } from "@nats-io/transport-node";
import { request } from "../actors/nats/rpc.ts";
import { marketInfoReplySchema, marketInfoRequestSchema } from "../protocol/wire/schemas.ts";
import { marketSubjects } from "../protocol/wire/subjects.ts";

/** The JSON-RPC node answers `eth_chainId`; resolves with the chain id. */
export async function chainAnswers(rpcUrl: string, timeoutMs: number): Promise<number> {
  const response = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json()) as { result?: string };
  if (!body.result) throw new Error("no chain id");
  return Number(body.result);
}

/** The DSO answers the public market-description request (it is serving); resolves with the description. */
export async function dsoServes(options: {
  natsUrl: string;
  user?: string | undefined;
  pass?: string | undefined;
  market: string;
  timeoutMs: number;
}) {
  const nc = await connect({
    servers: options.natsUrl.split(","),
    timeout: options.timeoutMs,
    ...(options.user ? { user: options.user, pass: options.pass } : {}),
  });
  try {
    const reply = await request(
      nc,
      marketSubjects(options.market).dso.market,
      marketInfoRequestSchema,
      { type: "market.info.request" },
      marketInfoReplySchema,
      {
        timeoutMs: options.timeoutMs,
      },
    );
    return reply.market;
  } finally {
    await nc.close();
  }
}
