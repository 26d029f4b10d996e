// Integration: the DSO database on a real SQLite file in a temp dir — migrations, idempotent writes, ledger and bills.
import { Wallet } from "ethers";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDsoDatabase, type DsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { ConflictError, IllegalTradeTransitionError, MigrationError, NotFoundError, UnbalancedPostingsError } from "../../actors/db/errors.ts";
import { DSO_MIGRATIONS } from "../../actors/db/migrations.ts";
import { loadSqlite } from "../../actors/db/sqlite.ts";
import { postingsOf } from "../../actors/dso/ledger.ts";
import { defaultMarketConfig, type Tariffs } from "../../protocol/marketConfig.ts";
import { settleTrade } from "../../protocol/settlement.ts";
import { tradeIdOf, type Opening, type SideCode } from "../../protocol/domain.ts";

let dir: string;
let path: string;
let db: DsoDatabase;
let clock = 1_780_000_000_000;
const now = () => ++clock;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gridveil-db-"));
  path = join(dir, "dso.sqlite");
  db = openDsoDatabase(path, { now });
});
afterEach(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

const BUY_BIDDER = Wallet.createRandom().address as `0x${string}`;
const SELL_BIDDER = Wallet.createRandom().address as `0x${string}`;

/** A settled trade's postings as the DSO posts them: protocol/settlement.ts, mapped to the meters' bill accounts. */
function settlementOf(trade: { buyerMeterId: string; sellerMeterId: string; priceMicroPerKWh: number; quantityWh: number; fedWh: number; consumedWh: number }, tariffs: Tariffs) {
  const settlement = settleTrade({
    terms: { matchId: "m", buyBidder: BUY_BIDDER, sellBidder: SELL_BIDDER, buyLevel: 1, sellLevel: 0, quantityWh: trade.quantityWh, priceMicroPerKWh: trade.priceMicroPerKWh, clearingRule: "midpoint" },
    buyReadingWh: trade.consumedWh,
    sellReadingWh: trade.fedWh,
    tariffs,
  });
  return { postings: postingsOf(settlement, { buyBidder: BUY_BIDDER, sellBidder: SELL_BIDDER, buyerMeterId: trade.buyerMeterId, sellerMeterId: trade.sellerMeterId }) };
}

function enrol(meterId: string) {
  const wallet = Wallet.createRandom();
  return db.enrolMeter({ meterId, address: wallet.address, publicKey: wallet.signingKey.publicKey, name: `House ${meterId}`, inboxId: `inbox-${meterId.toLowerCase()}` }).record;
}

function opening(priceLevel: number, quantityWh: number): Opening {
  return { priceLevel, quantityWh, salt: `0x${"5a".repeat(32)}`, alpha: "11", beta: "13" };
}

/** A matched pair of one-time ids belonging to two meters, recorded as tickets and a match. */
function matchedTrade(buyerMeter: string, sellerMeter: string, logIndex = 0) {
  const buyId = Wallet.createRandom().address;
  const sellId = Wallet.createRandom().address;
  db.recordOneTimeId({ bidder: buyId, meterId: buyerMeter, side: 0, notAfter: 1_900_000_000 });
  db.recordOneTimeId({ bidder: sellId, meterId: sellerMeter, side: 1, notAfter: 1_900_000_000 });
  const txHash = `0x${(logIndex + 1).toString(16).padStart(64, "0")}`;
  return db.recordMatch({ buyId, sellId, txHash, blockNumber: 10, logIndex, observedAt: now() });
}

describe("migrations", () => {
  it("load node:sqlite without its experimental warning, but let other warnings through", () => {
    // A fresh process: the test runner may already have loaded node:sqlite, which would hide the warning.
    const script = [
      `const { openDsoDatabase } = await import(${JSON.stringify(new URL("../../actors/db/dsoDatabase.ts", import.meta.url).href)});`,
      `openDsoDatabase(":memory:").close();`,
      `process.emitWarning("still here", "ExperimentalWarning");`,
    ].join("\n");
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
    expect(child.status, child.stderr).toBe(0);
    expect(child.stderr).not.toMatch(/SQLite is an experimental feature/);
    expect(child.stderr).toMatch(/still here/);
  });

  const LATEST = DSO_MIGRATIONS.at(-1)!.version;

  it("apply every migration once; reopening applies nothing and keeps the data", () => {
    expect(db.schemaVersion).toBe(DSO_MIGRATIONS.at(-1)?.version);
    enrol("A");
    db.setSetting("market", { contract: "0x01" });
    db.close();
    db = openDsoDatabase(path, { now });
    expect(db.schemaVersion).toBe(LATEST);
    expect(db.getMeter("A")?.name).toBe("House A");
    expect(db.getSetting("market")).toEqual({ contract: "0x01" });
    const raw = new (loadSqlite().DatabaseSync)(path);
    expect(raw.prepare("SELECT version FROM schema_migrations ORDER BY version").all().map((r) => r.version)).toEqual(DSO_MIGRATIONS.map((m) => m.version));
    raw.close();
  });

  it("roll back a failing migration completely and leave the database usable", () => {
    db.close();
    const broken = [...DSO_MIGRATIONS, { version: LATEST + 1, name: "broken", sql: "CREATE TABLE half_done (x INTEGER); INSERT INTO nowhere VALUES (1);" }];
    expect(() => openDsoDatabase(path, { migrations: broken })).toThrow(MigrationError);
    const raw = new (loadSqlite().DatabaseSync)(path);
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'half_done'").get()).toBeUndefined();
    expect(raw.prepare("SELECT MAX(version) AS v FROM schema_migrations").get()?.v).toBe(LATEST);
    raw.close();
    db = openDsoDatabase(path, { now });
    expect(db.schemaVersion).toBe(LATEST);
    // A fixed migration then applies once.
    db.close();
    const fixed = [...DSO_MIGRATIONS, { version: LATEST + 1, name: "fixed", sql: "CREATE TABLE half_done (x INTEGER);" }];
    const first = openDsoDatabase(path, { migrations: fixed });
    expect(first.schemaVersion).toBe(LATEST + 1);
    first.close();
    db = openDsoDatabase(path, { migrations: fixed });
    expect(db.schemaVersion).toBe(LATEST + 1);
  });

  it("refuse a database written by a newer program", () => {
    db.close();
    const newer = [...DSO_MIGRATIONS, { version: 9, name: "future", sql: "SELECT 1;" }];
    openDsoDatabase(path, { migrations: newer }).close();
    // The newer program's own check still passes (and it reopens as a no-op).
    expect(() => openDsoDatabase(path)).toThrow(/newer than this program/);
    db = openDsoDatabase(path, { migrations: newer });
  });

  it("work in memory for unit tests", () => {
    const memory = openDsoDatabase(":memory:");
    expect(memory.schemaVersion).toBe(LATEST);
    memory.close();
  });
});

describe("registry and one-time ids", () => {
  it("make enrolment idempotent and refuse a second key for a meter or a key reused by another meter", () => {
    const wallet = Wallet.createRandom();
    const input = { meterId: "M1", address: wallet.address.toLowerCase(), publicKey: wallet.signingKey.publicKey, name: "M1", inboxId: "ibx1" };
    const first = db.enrolMeter(input);
    expect(first.inserted).toBe(true);
    expect(first.record.address).toBe(wallet.address);
    const again = db.enrolMeter({ ...input, inboxId: "other", name: "renamed" });
    expect(again).toEqual({ inserted: false, record: first.record });
    const other = Wallet.createRandom();
    expect(() => db.enrolMeter({ ...input, address: other.address, publicKey: other.signingKey.publicKey })).toThrow(ConflictError);
    expect(() => db.enrolMeter({ ...input, meterId: "M2", inboxId: "ibx2" })).toThrow(ConflictError);
    expect(() => db.enrolMeter({ meterId: "M3", address: other.address, publicKey: other.signingKey.publicKey, name: "M3", inboxId: "ibx1" })).toThrow(ConflictError);
    expect(db.findMeterByAddress(wallet.address.toLowerCase())?.meterId).toBe("M1");
    expect(db.listMeters().map((m) => m.meterId)).toEqual(["M1"]);
  });

  it("link a one-time id to exactly one meter", () => {
    enrol("A");
    enrol("B");
    const bidder = Wallet.createRandom().address;
    expect(db.recordOneTimeId({ bidder, meterId: "A", side: 1, notAfter: 5 }).inserted).toBe(true);
    expect(db.recordOneTimeId({ bidder: bidder.toLowerCase(), meterId: "A", side: 1, notAfter: 5 }).inserted).toBe(false);
    expect(() => db.recordOneTimeId({ bidder, meterId: "B", side: 1, notAfter: 5 })).toThrow(ConflictError);
    expect(() => db.recordOneTimeId({ bidder: Wallet.createRandom().address, meterId: "nobody", side: 0, notAfter: 5 })).toThrow(NotFoundError);
    expect(db.lookupOneTimeId(bidder)).toMatchObject({ meterId: "A", side: 1, notAfter: 5 });
  });
});

describe("trades", () => {
  it("run a trade from match to settlement with every step idempotent", () => {
    enrol("BUYER");
    enrol("SELLER");
    const first = matchedTrade("BUYER", "SELLER");
    expect(first.inserted).toBe(true);
    const { trade } = first;
    expect(trade).toMatchObject({ stage: "awaitingOpenings", buyerMeterId: "BUYER", sellerMeterId: "SELLER", terms: null });
    expect(trade.tradeId).toBe(tradeIdOf(first.match));

    // The same Matched event replayed (gateway restart, redelivery).
    const replay = db.recordMatch({ ...first.match, buyId: first.match.buyId.toLowerCase(), txHash: first.match.txHash.toUpperCase().replace("0X", "0x") });
    expect(replay.inserted).toBe(false);
    expect(replay.trade.tradeId).toBe(trade.tradeId);

    expect(db.recordOpening(trade.tradeId, 0, opening(7, 2000)).inserted).toBe(true);
    expect(db.recordOpening(trade.tradeId, 0, opening(7, 2000)).inserted).toBe(false);
    expect(() => db.recordOpening(trade.tradeId, 0, opening(6, 2000))).toThrow(ConflictError);
    db.recordOpening(trade.tradeId, 1, opening(4, 1500));

    const terms = { buyLevel: 7, sellLevel: 4, clearingRule: "midpoint" as const, priceMicroPerKWh: 210_000, quantityWh: 1500 };
    expect(db.markVerified(trade.tradeId, terms).changed).toBe(true);
    expect(db.markVerified(trade.tradeId, terms).changed).toBe(false);
    expect(() => db.markVerified(trade.tradeId, { ...terms, quantityWh: 1 })).toThrow(ConflictError);

    const reading = (side: SideCode, energyWh: number) => ({
      tradeId: trade.tradeId,
      side,
      meterId: side === 0 ? "BUYER" : "SELLER",
      bidder: side === 0 ? trade.buyId : trade.sellId,
      energyWh,
      measuredAt: now(),
      receivedAt: now(),
    });
    expect(db.recordReading(reading(1, 1200)).inserted).toBe(true);
    const repeated = db.recordReading(reading(1, 9999));
    expect(repeated).toMatchObject({ inserted: false, record: { energyWh: 1200 } });
    db.recordReading(reading(0, 1500));
    const readings = db.readingsOf(trade.tradeId);
    expect([readings.buy?.energyWh, readings.sell?.energyWh]).toEqual([1500, 1200]);

    const settlement = settlementOf(
      { buyerMeterId: "BUYER", sellerMeterId: "SELLER", priceMicroPerKWh: 210_000, quantityWh: 1500, fedWh: 1200, consumedWh: 1500 },
      defaultMarketConfig(),
    );
    const settled = db.settleTrade(trade.tradeId, { postings: settlement.postings, period: "2026-05", settledAt: now() });
    expect(settled.inserted).toBe(true);
    expect(settled.entries).toHaveLength(settlement.postings.length);
    expect(db.settleTrade(trade.tradeId, { postings: settlement.postings, period: "2026-05", settledAt: now() })).toEqual({
      inserted: false,
      entries: settled.entries,
    });
    expect(db.getTrade(trade.tradeId)).toMatchObject({ stage: "settled", terms });
    expect(db.ledgerTotal()).toBe(0);

    // Bills: the buyer pays energy, the 300 Wh shortfall at retail and the network fee; the seller earns the
    // energy minus the imbalance charge on the shortfall.
    const buyerBill = db.bill("BUYER", "2026-05");
    expect(buyerBill.totalMicro).toBe(-(252_000 + 90_000 + 24_000));
    expect(buyerBill.totalMicro).toBe(buyerBill.entries.reduce((sum, e) => sum + e.amountMicro, 0));
    expect(db.bill("SELLER", "2026-05").totalMicro).toBe(252_000 - 60_000);
    expect(db.bill("SELLER", "2026-06")).toMatchObject({ totalMicro: 0, entries: [] });
  });

  it("refuse impossible transitions and unbalanced postings", () => {
    enrol("A");
    enrol("B");
    const { trade } = matchedTrade("A", "B");
    const postings = [{ account: "meter:A" as const, kind: "energy.buy" as const, amountMicro: -5, memo: "" }];
    expect(() => db.settleTrade(trade.tradeId, { postings, period: "2026-05", settledAt: 1 })).toThrow(IllegalTradeTransitionError);
    expect(() => db.disputeTrade(trade.tradeId, { side: 0, reason: "ciphertext-mismatch" })).toThrow(IllegalTradeTransitionError);
    db.markVerified(trade.tradeId, { buyLevel: 1, sellLevel: 1, clearingRule: "seller", priceMicroPerKWh: 1, quantityWh: 1 });
    expect(() => db.settleTrade(trade.tradeId, { postings, period: "2026-05", settledAt: 1 })).toThrow(UnbalancedPostingsError);
    expect(db.ledgerEntries({ tradeId: trade.tradeId })).toEqual([]);
    expect(db.getTrade(trade.tradeId)?.stage).toBe("termsFixed");
    expect(db.disputeTrade(trade.tradeId, { side: 1, reason: "ciphertext-mismatch" }).trade.dispute).toEqual({ side: 1, reason: "ciphertext-mismatch" });
    expect(db.voidTrade(trade.tradeId, "disputed").changed).toBe(true);
    expect(db.voidTrade(trade.tradeId, "disputed").changed).toBe(false);
    expect(() => db.markVerified(trade.tradeId, { buyLevel: 1, sellLevel: 1, clearingRule: "seller", priceMicroPerKWh: 1, quantityWh: 1 })).toThrow(
      IllegalTradeTransitionError,
    );
    expect(db.listTrades({ stage: "voided" }).map((t) => t.voidReason)).toEqual(["disputed"]);
    expect(() => db.getTrade("0x00") ?? db.voidTrade("0x00", "x")).toThrow(NotFoundError);
  });

  it("refuse to verify a match whose one-time ids this DSO never issued", () => {
    enrol("A");
    const { trade } = db.recordMatch({ buyId: Wallet.createRandom().address, sellId: Wallet.createRandom().address, txHash: `0x${"77".repeat(32)}`, blockNumber: 1, logIndex: 0, observedAt: 1 });
    expect(trade.buyerMeterId).toBeNull();
    expect(() => db.markVerified(trade.tradeId, { buyLevel: 1, sellLevel: 1, clearingRule: "seller", priceMicroPerKWh: 1, quantityWh: 1 })).toThrow(NotFoundError);
  });

  it("accept bigint/string amounts and merge lines of one account and kind (a meter trading with itself)", () => {
    enrol("SELF");
    const { trade } = matchedTrade("SELF", "SELF");
    db.markVerified(trade.tradeId, { buyLevel: 3, sellLevel: 3, clearingRule: "buyer", priceMicroPerKWh: 130_000, quantityWh: 1000 });
    const settled = db.settleTrade(trade.tradeId, {
      postings: [
        { account: "meter:SELF", kind: "energy.buy", amountMicro: "-130000" },
        { account: "meter:SELF", kind: "energy.buy", amountMicro: 130_000n },
        { account: "meter:SELF", kind: "fee.buyer", amountMicro: -20_000n },
        { account: "dso:revenue", kind: "fee.revenue", amountMicro: "20000" },
      ],
      period: "2026-05",
      settledAt: 1,
    });
    expect(settled.entries.map((e) => [e.account, e.kind, e.amountMicro])).toEqual([
      ["meter:SELF", "energy.buy", 0],
      ["meter:SELF", "fee.buyer", -20_000],
      ["dso:revenue", "fee.revenue", 20_000],
    ]);
    expect(db.bill("SELF", "2026-05").totalMicro).toBe(-20_000);
    expect(db.ledgerTotal()).toBe(0);
  });

  it("keep the ledger append-only even for direct SQL", () => {
    enrol("A");
    enrol("B");
    const { trade } = matchedTrade("A", "B");
    db.markVerified(trade.tradeId, { buyLevel: 2, sellLevel: 1, clearingRule: "midpoint", priceMicroPerKWh: 100, quantityWh: 1000 });
    db.settleTrade(trade.tradeId, {
      postings: [
        { account: "meter:A", kind: "energy.buy", amountMicro: -100, memo: "" },
        { account: "meter:B", kind: "energy.sell", amountMicro: 100, memo: "" },
      ],
      period: "2026-05",
      settledAt: 1,
    });
    const raw = new (loadSqlite().DatabaseSync)(path);
    expect(() => raw.exec("UPDATE ledger_entries SET amount_micro = 0")).toThrow(/append-only/);
    expect(() => raw.exec("DELETE FROM ledger_entries")).toThrow(/append-only/);
    raw.close();
  });

  it("resume in-flight trades and keep bills after a reopen; bills equal the sums of entries on random trades", () => {
    const meters = ["M0", "M1", "M2", "M3", "M4", "M5"];
    meters.forEach(enrol);
    const config = defaultMarketConfig();
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const expected = new Map<string, number>();
    const inFlight: string[] = [];
    for (let i = 0; i < 60; i++) {
      const buyer = meters[Math.floor(random() * 6)];
      const seller = meters[(meters.indexOf(buyer) + 1 + Math.floor(random() * 5)) % 6];
      const { trade } = matchedTrade(buyer, seller, i);
      if (i % 10 === 9) {
        inFlight.push(trade.tradeId);
        continue;
      }
      const quantityWh = 1 + Math.floor(random() * 5000);
      const priceMicroPerKWh = 100_000 + 20_000 * Math.floor(random() * 10);
      db.markVerified(trade.tradeId, { buyLevel: 9, sellLevel: 0, clearingRule: "midpoint", priceMicroPerKWh, quantityWh });
      const s = settlementOf(
        { buyerMeterId: buyer, sellerMeterId: seller, priceMicroPerKWh, quantityWh, fedWh: Math.floor(random() * 6000), consumedWh: Math.floor(random() * 6000) },
        config,
      );
      const period = i % 2 === 0 ? "2026-05" : "2026-06";
      db.settleTrade(trade.tradeId, { postings: s.postings, period, settledAt: now() });
      for (const p of s.postings) if (p.account.startsWith("meter:")) expected.set(`${p.account.slice(6)}|${period}`, (expected.get(`${p.account.slice(6)}|${period}`) ?? 0) + Number(p.amountMicro));
    }
    for (const trade of db.listTrades({ stage: "settled" })) db.markClosed(trade.tradeId);
    db.saveMachineRecord(inFlight[0], { stage: "awaitingOpenings", closed: false, note: "resume me" });
    db.close();
    db = openDsoDatabase(path, { now });
    expect(db.listTrades({ stage: ["awaitingOpenings", "termsFixed", "disputed"] }).map((t) => t.tradeId)).toEqual(inFlight);
    expect(db.listUnclosedTrades().map((t) => t.tradeId)).toEqual(inFlight);
    expect(db.getTrade(inFlight[0])?.machineRecord).toEqual({ stage: "awaitingOpenings", closed: false, note: "resume me" });
    expect(db.markClosed(inFlight[1]).changed).toBe(true);
    expect(db.markClosed(inFlight[1]).changed).toBe(false);
    expect(() => db.saveMachineRecord("0x00", {})).toThrow(NotFoundError);
    expect(db.ledgerTotal()).toBe(0);
    expect(db.unbalancedTrades()).toEqual([]);
    const bills = db.bills();
    expect(bills.length).toBe(expected.size);
    for (const bill of bills) {
      expect(bill.totalMicro).toBe(expected.get(`${bill.meterId}|${bill.period}`));
      expect(bill.totalMicro).toBe(bill.entries.reduce((sum, e) => sum + e.amountMicro, 0));
    }
    expect(db.bills("2026-06").every((b) => b.period === "2026-06")).toBe(true);
  });
});
