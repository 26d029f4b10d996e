// The sealed wire, as an outsider sees it (PROTOCOL §1, §6): a whole demo market (real nats-server, real chain, real
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
import { JsonRpcProvider } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { openDsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { runDemo } from "../../actors/demo/runDemo.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { freePort } from "../../actors/runtime/freePort.ts";
import { spanFilePath } from "../../actors/telemetry/telemetry.ts";
import { getMarketInterface } from "../../contracts/client/index.ts";
import { audit, type Haystack, type Secret } from "./audit.ts";

/** Field names that would carry a secret if a message in clear had them (levels are too small to search by value). */
const SECRET_FIELD = /"(priceLevel|buyLevel|sellLevel|quantityWh|energyWh|measuredWh|deliveredWh|shortfallWh|priceMicroPerKWh|amountMicro|netMicro|totalMicro|meterId|salt|alpha|beta|seed|msk|opening|postings|entries|memo)"\s*:/;

describe("the sealed wire: nothing of a run's ground truth in clear on NATS, on chain or in the spans", () => {
  let nats: NatsServerHandle;
  let chain: LocalChain;
  let dataDir: string;
  let monitorPort: number;

  beforeAll(async () => {
    monitorPort = await freePort();
    nats = await startNatsServer({ monitorPort });
    chain = await startLocalChain();
    dataDir = mkdtempSync(join(tmpdir(), "gridveil-privacy-"));
  });
  afterAll(async () => {
    await chain?.stop();
    await nats?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("a demo market, watched on `>`, leaks no opening, permanent id, quantity, price or bill line", async () => {
    // The wiretap: every message on the server (requests, replies, JetStream traffic), subject, headers and payload.
    const tap: NatsConnection = await connect({ servers: nats.url, name: "privacy-tap" });
    const wire: Haystack[] = [];
    const subscription = tap.subscribe(">");
    const collecting = (async () => {
      for await (const msg of subscription) {
        const headers = msg.headers ? [...msg.headers.keys()].map((key) => `${key}: ${msg.headers!.get(key)}`).join("\n") : "";
        wire.push({ source: `nats ${msg.subject}`, data: Buffer.concat([Buffer.from(`${msg.subject}\n${msg.reply ?? ""}\n${headers}\n`), Buffer.from(msg.data)]) });
      }
    })();
    await tap.flush();
    let summary;
    try {
      summary = await runDemo({
        meters: 4,
        rounds: 2,
        levels: 10,
        seed: 11,
        dataDir,
        natsUrl: nats.url,
        rpcUrl: chain.rpcUrl,
        accountKeys: chain.accountKeys,
        marketId: "privacy",
        roundTimeoutMs: 90_000,
      });
    } finally {
      await tap.drain();
      await collecting;
    }
    expect(summary.tradesSettled).toBeGreaterThan(0);
    // What the server itself sees of every client: the names they connected with (open and closed connections).
    const connz = (await (await fetch(`http://127.0.0.1:${monitorPort}/connz?state=all&limit=4096`)).json()) as { connections: { name?: string }[] };
    const names: Haystack = { source: "nats connection names", data: connz.connections.map((connection) => connection.name ?? "").join("\n") };
    expect(connz.connections.length).toBeGreaterThan(4);

    // Ground truth, from the DSO's database.
    const db = openDsoDatabase(join(dataDir, "dso", "dso.sqlite"));
    const secrets: Secret[] = [];
    try {
      for (const meter of db.listMeters()) {
        secrets.push({ label: `meter id ${meter.meterId}`, value: meter.meterId });
        secrets.push({ label: `meter name ${meter.name}`, value: meter.name });
        secrets.push({ label: `long-term address of ${meter.meterId}`, value: meter.address });
        secrets.push({ label: `long-term key of ${meter.meterId}`, value: meter.publicKey });
      }
      const trades = db.listTrades({});
      for (const trade of trades) {
        for (const [side, opening] of [["buy", trade.buyOpening], ["sell", trade.sellOpening]] as const) {
          if (!opening) continue;
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
    } finally {
      db.close();
    }

    // The chain: every transaction's calldata and every log, raw and decoded. In raw ABI data a small number is also
    // an offset or a length (a 1,200-byte offset is the word of 1,200 Wh), so numbers below 2^32 are searched in the
    // decoded arguments, where a quantity in clear would be a value; everything else is searched in the raw bytes too.
    const market = getMarketInterface();
    const decoded = (value: unknown) => JSON.stringify(value, (_key, field: unknown) => (typeof field === "bigint" ? field.toString() : field));
    const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true });
    const rawChain: Haystack[] = [];
    const decodedChain: Haystack[] = [];
    try {
      const latest = await provider.getBlockNumber();
      for (let number = 0; number <= latest; number++) {
        const block = await provider.getBlock(number, true);
        for (const tx of block?.prefetchedTransactions ?? []) {
          rawChain.push({ source: `calldata ${tx.hash}`, data: Buffer.from(tx.data.slice(2), "hex") });
          const call = tx.to?.toLowerCase() === summary.contractAddress.toLowerCase() ? market.parseTransaction({ data: tx.data }) : null;
          if (call) decodedChain.push({ source: `decoded ${call.name} ${tx.hash}`, data: decoded(call.args.toArray(true)) });
        }
      }
      for (const log of await provider.getLogs({ fromBlock: 0, toBlock: latest })) {
        rawChain.push({ source: `log ${log.transactionHash}#${log.index}`, data: Buffer.from([...log.topics, log.data].map((word) => word.slice(2)).join(""), "hex") });
        const event = market.parseLog({ topics: [...log.topics], data: log.data });
        if (event) decodedChain.push({ source: `decoded ${event.name} ${log.transactionHash}#${log.index}`, data: decoded(event.args.toArray(true)) });
      }
    } finally {
      provider.destroy();
    }
    expect(decodedChain.some((haystack) => haystack.source.startsWith("decoded placeBids"))).toBe(true);
    const large = secrets.filter((secret) => !(typeof secret.value === "number" || typeof secret.value === "bigint") || BigInt(secret.value) >= 2n ** 32n);
    const spans: Haystack = { source: "spans.jsonl", data: readFileSync(spanFilePath(dataDir)) };

    expect(wire.length).toBeGreaterThan(100);
    expect(rawChain.length).toBeGreaterThan(10);
    const findings = [...audit(secrets, [...wire, names, ...decodedChain, spans]), ...audit(large, rawChain)];
    const summaryOf = findings.slice(0, 20).map((f) => `${f.label} as ${f.form} in ${f.source}`);
    expect(summaryOf, "ground truth found in clear").toEqual([]);

    // Fields that name a secret, in any message that travels in clear and in any span.
    const named = [...wire, spans].filter((message) => SECRET_FIELD.test(message.data.toString())).map((message) => `${message.source}: ${message.data.toString().match(SECRET_FIELD)?.[1]}`);
    expect(named.slice(0, 20), "a secret field in clear").toEqual([]);
  });
});
