// The sealed wire, as an outsider sees it (PROTOCOL §1, §6), for both designs: a whole demo market (real nats-server, real chain, real
// pairings, the DSO's real SQLite file) with a subscriber on `>` from before the first message, the names every client
// gave the server, then every transaction's calldata, every log of the chain and the span file. None of the run's ground truth — read from the
// DSO's database: every opening, permanent id, long-term address, name, quantity, reading, price and bill line — may
// appear in any of it, in any form the audit knows (decimal, kWh, hex, ABI word, UTF-8, base64). Small numbers (price
// levels) are too common to search by value; they are caught by field name: no message in clear may carry a field
// that names a level, a quantity, an energy, a price, an amount or a meter (names are searched by value: JetStream's own API has `name` fields).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Interface, JsonRpcProvider } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { openDsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { runDemo } from "../../actors/demo/runDemo.ts";
import { runDay } from "../../actors/demo/runDay.ts";
import type { DsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { loadArtifact } from "../../contracts/client/artifact.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { freePort } from "../../actors/runtime/freePort.ts";
import { spanFilePath } from "../../actors/telemetry/telemetry.ts";
import { getMarketInterface } from "../../contracts/client/index.ts";
import { audit, type Haystack, type Secret } from "./audit.ts";

/** Field names that would carry a secret if a message in clear had them (levels are too small to search by value). */
const SECRET_FIELD = /"(priceLevel|buyLevel|sellLevel|quantityWh|energyWh|measuredWh|deliveredWh|shortfallWh|priceMicroPerKWh|amountMicro|netMicro|totalMicro|meterId|salt|alpha|beta|seed|msk|opening|postings|entries|memo)"\s*:/;

type Run = { contractAddress: string; tradesSettled: number };

/** Runs a market under a wiretap on `>` (subject, reply, headers, payload of every message) and the server's view of its clients. */
async function tapped(natsUrl: string, monitorPort: number, run: () => Promise<Run>): Promise<{ summary: Run; wire: Haystack[]; names: Haystack }> {
  const tap: NatsConnection = await connect({ servers: natsUrl, name: "privacy-tap" });
  const wire: Haystack[] = [];
  const subscription = tap.subscribe(">");
  const collecting = (async () => {
    for await (const msg of subscription) {
      const headers = msg.headers ? [...msg.headers.keys()].map((key) => `${key}: ${msg.headers!.get(key)}`).join("\n") : "";
      wire.push({ source: `nats ${msg.subject}`, data: Buffer.concat([Buffer.from(`${msg.subject}\n${msg.reply ?? ""}\n${headers}\n`), Buffer.from(msg.data)]) });
    }
  })();
  await tap.flush();
  let summary: Run;
  try {
    summary = await run();
  } finally {
    await tap.drain();
    await collecting;
  }
  // What the server itself sees of every client: the names they connected with (open and closed connections).
  const connz = (await (await fetch(`http://127.0.0.1:${monitorPort}/connz?state=all&limit=4096`)).json()) as { connections: { name?: string }[] };
  expect(connz.connections.length).toBeGreaterThan(4);
  return { summary, wire, names: { source: "nats connection names", data: connz.connections.map((connection) => connection.name ?? "").join("\n") } };
}

/** Ground truth, from the DSO's database: identities, every opening (version 1's in trades, version 2's certified), terms, readings, ledger, bills. */
function groundTruth(db: DsoDatabase): Secret[] {
  const secrets: Secret[] = [];
  for (const meter of db.listMeters()) {
    secrets.push({ label: `meter id ${meter.meterId}`, value: meter.meterId });
    secrets.push({ label: `meter name ${meter.name}`, value: meter.name });
    secrets.push({ label: `long-term address of ${meter.meterId}`, value: meter.address });
    secrets.push({ label: `long-term key of ${meter.meterId}`, value: meter.publicKey });
  }
  const trades = db.listTrades({});
  for (const trade of trades) {
    for (const [side, bidder] of [["buy", trade.buyId], ["sell", trade.sellId]] as const) {
      const certified = db.certifiedBid(bidder);
      if (certified === undefined) continue;
      secrets.push({ label: `${side} certified level of ${trade.tradeId}`, value: certified.priceLevel });
      secrets.push({ label: `${side} certified quantityWh of ${trade.tradeId}`, value: certified.quantityWh });
      secrets.push({ label: `${side} certified salt of ${trade.tradeId}`, value: certified.salt });
      secrets.push({ label: `${side} certified seed of ${trade.tradeId}`, value: certified.seed });
    }
    for (const [side, opening] of [["buy", trade.buyOpening], ["sell", trade.sellOpening]] as const) {
      if (!opening || !("alpha" in opening)) continue;
      secrets.push({ label: `${side} opening level of ${trade.tradeId}`, value: opening.priceLevel });
      secrets.push({ label: `${side} opening quantityWh of ${trade.tradeId}`, value: opening.quantityWh });
      secrets.push({ label: `${side} opening salt of ${trade.tradeId}`, value: opening.salt });
      secrets.push({ label: `${side} opening alpha of ${trade.tradeId}`, value: BigInt(opening.alpha) });
      secrets.push({ label: `${side} opening beta of ${trade.tradeId}`, value: BigInt(opening.beta) });
    }
    if (trade.terms) {
      secrets.push({ label: `traded quantityWh of ${trade.tradeId}`, value: trade.terms.quantityWh });
      secrets.push({ label: `clearing price of ${trade.tradeId}`, value: trade.terms.priceMicroPerKWh });
    }
    const readings = db.readingsOf(trade.tradeId);
    for (const reading of [readings.buy, readings.sell]) if (reading) secrets.push({ label: `reading energyWh of ${trade.tradeId}`, value: reading.energyWh });
  }
  for (const entry of db.ledgerEntries()) {
    secrets.push({ label: `ledger line ${entry.entryId} amount`, value: BigInt(Math.abs(entry.amountMicro)) });
    if (entry.memo.length >= 8) secrets.push({ label: `ledger line ${entry.entryId} memo`, value: entry.memo });
  }
  for (const bill of db.bills()) secrets.push({ label: `bill of ${bill.meterId}`, value: BigInt(Math.abs(bill.totalMicro)) });
  expect(trades.length).toBeGreaterThan(0);
  return secrets;
}

/**
 * The chain: every transaction's calldata and every log, raw and decoded with the market's interface. In raw ABI data
 * a small number is also an offset or a length (a 1,200-byte offset is the word of 1,200 Wh), so numbers below 2^32
 * are searched in the decoded arguments, where a quantity in clear would be a value.
 */
async function chainHaystacks(rpcUrl: string, contractAddress: string, market: Interface): Promise<{ raw: Haystack[]; decoded: Haystack[] }> {
  const json = (value: unknown) => JSON.stringify(value, (_key, field: unknown) => (typeof field === "bigint" ? field.toString() : field));
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
  const raw: Haystack[] = [];
  const decoded: Haystack[] = [];
  try {
    const latest = await provider.getBlockNumber();
    for (let number = 0; number <= latest; number++) {
      const block = await provider.getBlock(number, true);
      for (const tx of block?.prefetchedTransactions ?? []) {
        raw.push({ source: `calldata ${tx.hash}`, data: Buffer.from(tx.data.slice(2), "hex") });
        const call = tx.to?.toLowerCase() === contractAddress.toLowerCase() ? market.parseTransaction({ data: tx.data }) : null;
        if (call) decoded.push({ source: `decoded ${call.name} ${tx.hash}`, data: json(call.args.toArray(true)) });
      }
    }
    for (const log of await provider.getLogs({ fromBlock: 0, toBlock: latest })) {
      raw.push({ source: `log ${log.transactionHash}#${log.index}`, data: Buffer.from([...log.topics, log.data].map((word) => word.slice(2)).join(""), "hex") });
      const event = log.address.toLowerCase() === contractAddress.toLowerCase() ? market.parseLog({ topics: [...log.topics], data: log.data }) : null;
      if (event) decoded.push({ source: `decoded ${event.name} ${log.transactionHash}#${log.index}`, data: json(event.args.toArray(true)) });
    }
  } finally {
    provider.destroy();
  }
  return { raw, decoded };
}

/** Everything an outsider saw, searched for the ground truth and for fields that name a secret. */
function expectNothingInClear(secrets: Secret[], seen: { wire: Haystack[]; names: Haystack; raw: Haystack[]; decoded: Haystack[]; spans: Haystack }): void {
  expect(seen.wire.length).toBeGreaterThan(100);
  expect(seen.raw.length).toBeGreaterThan(10);
  const large = secrets.filter((secret) => !(typeof secret.value === "number" || typeof secret.value === "bigint") || BigInt(secret.value) >= 2n ** 32n);
  const findings = [...audit(secrets, [...seen.wire, seen.names, ...seen.decoded, seen.spans]), ...audit(large, seen.raw)];
  const summaryOf = findings.slice(0, 20).map((f) => `${f.label} as ${f.form} in ${f.source}`);
  expect(summaryOf, "ground truth found in clear").toEqual([]);
  // Fields that name a secret, in any message that travels in clear and in any span.
  const named = [...seen.wire, seen.spans].filter((message) => SECRET_FIELD.test(message.data.toString())).map((message) => `${message.source}: ${message.data.toString().match(SECRET_FIELD)?.[1]}`);
  expect(named.slice(0, 20), "a secret field in clear").toEqual([]);
}

describe("the sealed wire: nothing of a run's ground truth in clear on NATS, on chain or in the spans", () => {
  let nats: NatsServerHandle;
  let monitorPort: number;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    monitorPort = await freePort();
    nats = await startNatsServer({ monitorPort });
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await nats?.stop();
  });

  /** A chain and a data directory of its own per run (the day moves its chain's clock two days on). */
  async function fresh(): Promise<{ chain: LocalChain; dataDir: string }> {
    const chain = await startLocalChain();
    const dataDir = mkdtempSync(join(tmpdir(), "gridveil-privacy-"));
    cleanups.push(() => chain.stop(), () => rmSync(dataDir, { recursive: true, force: true }));
    return { chain, dataDir };
  }

  it("a version 1 demo market, watched on `>`, leaks no opening, permanent id, quantity, price or bill line", async () => {
    const { chain, dataDir } = await fresh();
    const { summary, wire, names } = await tapped(nats.url, monitorPort, () =>
      runDemo({ meters: 4, rounds: 2, levels: 10, seed: 11, dataDir, natsUrl: nats.url, rpcUrl: chain.rpcUrl, accountKeys: chain.accountKeys, marketId: "privacy", roundTimeoutMs: 90_000 }),
    );
    expect(summary.tradesSettled).toBeGreaterThan(0);
    const db = openDsoDatabase(join(dataDir, "dso", "dso.sqlite"));
    let secrets: Secret[];
    try {
      secrets = groundTruth(db);
    } finally {
      db.close();
    }
    const { raw, decoded } = await chainHaystacks(chain.rpcUrl, summary.contractAddress, getMarketInterface());
    expect(decoded.some((haystack) => haystack.source.startsWith("decoded placeBids"))).toBe(true);
    expectNothingInClear(secrets, { wire, names, raw, decoded, spans: { source: "spans.jsonl", data: readFileSync(spanFilePath(dataDir)) } });
  });

  it("a version 2 day (certified bids, hints, slot market), watched on `>`, leaks no opening, seed, permanent id, quantity, price or bill line", async () => {
    const { chain, dataDir } = await fresh();
    const { summary, wire, names } = await tapped(nats.url, monitorPort, () =>
      runDay({ meters: 3, slots: 12, levels: 1024, width: 1, encryptAt: "dso", seed: 11, dataDir, daySeconds: 10, biddingSeconds: 3, natsUrl: nats.url, rpcUrl: chain.rpcUrl, accountKeys: chain.accountKeys, marketId: "privacy-v2", timeoutMs: 90_000 }),
    );
    expect(summary.tradesSettled).toBeGreaterThan(0);
    const db = openDsoDatabase(join(dataDir, "dso", "dso.sqlite"));
    let secrets: Secret[];
    try {
      secrets = groundTruth(db);
      expect(secrets.some((secret) => secret.label.includes("certified seed"))).toBe(true);
    } finally {
      db.close();
    }
    const { raw, decoded } = await chainHaystacks(chain.rpcUrl, summary.contractAddress, new Interface(loadArtifact("SlotMarket").abi));
    expect(decoded.some((haystack) => haystack.source.startsWith("decoded placeBids"))).toBe(true);
    expectNothingInClear(secrets, { wire, names, raw, decoded, spans: { source: "spans.jsonl", data: readFileSync(spanFilePath(dataDir)) } });
  });
});
