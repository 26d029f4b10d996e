// DSO runtime, setup stage (real nats-server, real local chain, real pairings, real SQLite file): deployment and the
// market description, enrolment of provisioned meters only, tickets, and error replies to bad or unsigned messages.
import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { Wallet, getAddress, hexlify, verifyTypedData } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TICKET_TYPES, attachMarket } from "../../contracts/client/index.ts";
import { connectRpc } from "../../actors/chain/localChain.ts";
import { encodeMsk } from "../../protocol/fhipe/binary.ts";
import { MSK_FILE_NAME } from "../../actors/dso/masterKey.ts";
import { DSO_DATABASE_FILE } from "../../actors/dso/runtime.ts";
import { call } from "../../actors/nats/rpc.ts";
import { callSealed, type SealingWallet } from "../../actors/secure/sealedRpc.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { errorReplySchema, type EnrolRequest, type TicketRequest } from "../../protocol/wire/schemas.ts";
import { marketSubjects } from "../../protocol/wire/subjects.ts";
import { seal } from "../../actors/secure/sealed.ts";
import { signMessageFields } from "../../actors/secure/signed.ts";
import { type DsoUnderTest, type Infra, LEVELS, readSpans, remoteError, startDso, startInfra, TestMeter } from "./harness.ts";

const MARKET = "dso-setup";
const s = marketSubjects(MARKET);

let infra: Infra;
let dso: DsoUnderTest;
let alice: TestMeter;
let bob: TestMeter;
/** Provisioned but never enrolled. */
let carol: TestMeter;

beforeAll(async () => {
  infra = await startInfra();
  const tracer = infra.meterTelemetry.tracer;
  alice = new TestMeter("alice", infra.client.nc, MARKET, tracer);
  bob = new TestMeter("bob", infra.client.nc, MARKET, tracer);
  carol = new TestMeter("carol", infra.client.nc, MARKET, tracer);
  dso = await startDso(infra, MARKET, [alice.provisioned, bob.provisioned, carol.provisioned]);
});

afterAll(async () => {
  for (const meter of [alice, bob, carol]) meter?.close();
  await dso?.runtime.stop();
  await infra?.close();
});

describe("DSO runtime: setup", () => {
  it("deploys the market with its ticket signer and d, keeps msk and database owner-only, and serves the description", async () => {
    const { runtime, dataDir } = dso;
    const provider = await connectRpc(infra.chain.rpcUrl);
    try {
      const market = await attachMarket(runtime.market.contractAddress, provider);
      expect(market.dim).toBe(LEVELS + 1);
      expect(getAddress(await market.contract.ticketSigner())).toBe(new Wallet(infra.chain.accountKeys[0] as string).address);
    } finally {
      provider.destroy();
    }
    expect(statSync(join(dataDir, MSK_FILE_NAME)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, DSO_DATABASE_FILE)).mode & 0o777).toBe(0o600);

    const reply = await call(infra.client.nc, s, endpoints.marketInfo, { type: "market.info.request" });
    expect(reply.market).toEqual(runtime.market);
    expect(reply.market).toMatchObject({
      marketId: MARKET,
      chainId: Number(infra.chain.chainId),
      fhipe: { curve: "BN254", dimension: LEVELS + 1 },
      priceLevels: { count: LEVELS },
      clearingRule: "midpoint",
    });
    const spans = await readSpans(infra);
    const setup = spans.find((span) => span.name === "dso.setup" && span.attributes["gridveil.market.id"] === MARKET);
    expect(setup?.attributes).toMatchObject({ "gridveil.contract.deployed": true, "gridveil.contract.address": runtime.market.contractAddress });
    expect(setup?.attributes["gridveil.tx.hash"]).toMatch(/^0x[0-9a-f]{64}$/);
    expect(setup?.attributes["gridveil.tx.gas_used"]).toBeGreaterThan(1_000_000);
    expect(setup?.events.map((event) => event.attributes.to)).toContain("serving.requests.idle|epochKeys.noEpochs|trades");
  });

  it("enrols a provisioned meter: sealed msk (the DSO's own key), an opaque inbox id, the same one on re-enrolment", async () => {
    const first = await alice.enrol();
    expect(first.inboxId).toMatch(/^[0-9a-f]{16}$/);
    expect(first.inboxId).not.toContain("alice");
    expect(first.market).toEqual(dso.runtime.market);
    const stored = await readFile(join(dso.dataDir, MSK_FILE_NAME));
    expect(hexlify(encodeMsk(alice.msk!))).toBe(hexlify(stored));
    const again = await alice.enrol();
    expect(again.inboxId).toBe(first.inboxId);
    expect(dso.runtime.db.getMeter("alice")).toMatchObject({ inboxId: first.inboxId, address: alice.wallet.address });
    await bob.enrol();
    expect(dso.runtime.counters()).toMatchObject({ enrolments: 3 });
  });

  it("refuses an unprovisioned meter and a provisioned id signed by another key", async () => {
    const stranger = new TestMeter("mallory", infra.client.nc, MARKET, infra.meterTelemetry.tracer);
    const unknown = await remoteError(stranger.enrol());
    expect(unknown.code).toBe("unauthorized");
    expect(unknown.reply.message).toBe("unauthenticated: unknownMeter");

    // Mallory claims Carol's id with her own key.
    const impostor = new TestMeter("carol", infra.client.nc, MARKET, infra.meterTelemetry.tracer);
    const forged = await remoteError(impostor.enrol());
    expect(forged.code).toBe("unauthorized");
    expect(forged.reply.message).toMatch(/^unauthenticated: /);
    expect(dso.runtime.db.getMeter("carol")).toBeUndefined();
    stranger.close();
    impostor.close();
  });

  it("issues EIP-712 tickets to enrolled meters and pairs the one-time id with the permanent id", async () => {
    const oneTime = Wallet.createRandom();
    const bidder = oneTime.address;
    const notAfter = Math.floor(Date.now() / 1000) + 300;
    const reply = await alice.ticket(oneTime, 0, notAfter);
    expect(reply.bidder).toBe(bidder);
    expect(reply.ticket.notAfter).toBe(notAfter);
    const provider = await connectRpc(infra.chain.rpcUrl);
    try {
      const market = await attachMarket(dso.runtime.market.contractAddress, provider);
      const signer = verifyTypedData(market.domain, TICKET_TYPES, { bidder, notAfter: BigInt(notAfter) }, reply.ticket.signature);
      expect(signer).toBe(dso.runtime.dso.address);
    } finally {
      provider.destroy();
    }
    expect(dso.runtime.db.lookupOneTimeId(bidder)).toMatchObject({ meterId: "alice", side: 0, notAfter });
    // The same request again (a lost reply) gets a ticket again.
    expect((await alice.ticket(oneTime, 0, notAfter)).ticket.signature).toBe(reply.ticket.signature);
    // A lifetime beyond the cap is cut to the cap.
    const far = await alice.ticket(Wallet.createRandom(), 1, Math.floor(Date.now() / 1000) + 10 * 24 * 3600);
    expect(far.ticket.notAfter).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 3600 + 1);
  });

  it("refuses a bidder taken by another meter, a request not sealed by its one-time key, a meter not enrolled yet, and a ticket asked for the past", async () => {
    const oneTime = Wallet.createRandom();
    const bidder = oneTime.address;
    await alice.ticket(oneTime, 1);
    // Only the one-time key's holder can ask for it: Bob, sealing with a key of his own, is refused.
    const notSealed = await remoteError(bob.ticket(oneTime, 1, undefined, Wallet.createRandom()));
    expect(notSealed.reply.message).toBe("unauthenticated: notSealedByBidder");
    // Even with the one-time key, the bidder stays Alice's.
    const taken = await remoteError(bob.ticket(oneTime, 1));
    expect(taken.code).toBe("conflict");
    expect(taken.reply.message).toBe("bidderTaken");
    expect(dso.runtime.db.lookupOneTimeId(bidder)?.meterId).toBe("alice");

    const notEnrolled = await remoteError(carol.ticket(Wallet.createRandom(), 0));
    expect(notEnrolled.reply.message).toBe("unauthenticated: notEnrolled");

    const past = await remoteError(alice.ticket(Wallet.createRandom(), 0, Math.floor(Date.now() / 1000) - 5));
    expect(past.code).toBe("rejected");
  });

  it("refuses at once to run a contract whose tickets another key signs, or a stored key of another dimension", async () => {
    const started = Date.now();
    await expect(
      startDso(infra, "dso-other", [], { contractAddress: dso.runtime.market.contractAddress, dsoPrivateKey: infra.chain.accountKeys[2] as string }),
    ).rejects.toThrow(/accepts tickets from another key/);
    await expect(startDso(infra, "dso-other", [], { dataDir: dso.dataDir, levels: LEVELS + 2 })).rejects.toThrow(/another dimension/);
    // No setup retries for what retrying cannot fix.
    expect(Date.now() - started).toBeLessThan(10_000);
    // The running DSO is untouched.
    expect((await alice.ticket(Wallet.createRandom(), 0)).type).toBe("ticket.reply");
  });

  it("answers malformed, unsigned and mis-sealed messages with error replies and keeps serving", async () => {
    const nc = infra.client.nc;
    const raw = async (subject: string, body: string) => {
      const reply = await nc.request(subject, new TextEncoder().encode(body), { timeout: 5_000, headers: natsHeaders() });
      return errorReplySchema.parse(reply.json());
    };
    expect((await raw(s.dso.enrol, "{not json")).code).toBe("bad-message");
    expect((await raw(s.dso.ticket, JSON.stringify({ type: "ticket.request", meterId: "alice" }))).code).toBe("bad-message");
    expect((await raw(s.dso.ticket, JSON.stringify({ type: "sealed.request", sealed: { v: 2, ciphertext: "0x1234" } }))).code).toBe("unauthorized");
    expect((await raw(s.dso.opening, "[]")).code).toBe("bad-message");
    expect((await raw(s.dso.dispute, "null")).code).toBe("bad-message");

    // Unsigned: a well-formed ticket request, sealed by its one-time key, whose signature is not Alice's.
    const sealTo = (request: TicketRequest, oneTimeKey: SealingWallet) =>
      callSealed(nc, s, endpoints.ticket, request, { wallet: oneTimeKey, recipientPublicKey: dso.runtime.dso.publicKey });
    const ticketRequest = (oneTimeKey: SealingWallet, signer: SealingWallet) =>
      signMessageFields<TicketRequest>(
        { type: "ticket.request", meterId: "alice", bidder: oneTimeKey.address as `0x${string}`, side: 0, notAfter: Math.floor(Date.now() / 1000) + 60 },
        signer,
        s.dso.ticket,
      );
    const stranger = Wallet.createRandom();
    const unsigned = await remoteError(sealTo(ticketRequest(stranger, Wallet.createRandom()), stranger));
    expect(unsigned.code).toBe("unauthorized");
    expect(unsigned.reply.message).toBe("unauthenticated: notTheProvisionedKey");
    // Tampered after signing.
    const genuineKey = Wallet.createRandom();
    const tampered = await remoteError(sealTo({ ...ticketRequest(genuineKey, alice.wallet), side: 1 }, genuineKey));
    expect(tampered.reply.message).toBe("unauthenticated: badSignature");
    // An enrolment sealed by another key than the one it enrols (the reply would go to that key) is refused.
    const enrolment = signMessageFields<EnrolRequest>(
      { type: "enrol.request", meterId: "alice", name: "Alice", publicKey: alice.wallet.signingKey.publicKey as `0x${string}` },
      alice.wallet,
      s.dso.enrol,
    );
    const hijacked = await remoteError(callSealed(nc, s, endpoints.enrol, enrolment, { wallet: Wallet.createRandom(), recipientPublicKey: dso.runtime.dso.publicKey }));
    expect(hijacked.reply.message).toBe("unauthenticated: publicKeyMismatch");
    // A sealed request nobody can open here (sealed to another key) is refused in clear, without detail.
    const elsewhere = await remoteError(
      callSealed(nc, s, endpoints.ticket, ticketRequest(genuineKey, alice.wallet), { wallet: genuineKey, recipientPublicKey: Wallet.createRandom().signingKey.publicKey }),
    );
    expect(elsewhere.code).toBe("unauthorized");

    // An opening sealed for another context (replayed from elsewhere) is refused before anything else.
    const oneTime = Wallet.createRandom();
    const tradeId = `0x${"ab".repeat(32)}` as const;
    const misSealed = await remoteError(
      call(
        nc,
        s,
        endpoints.opening,
        {
          type: "opening.submit",
          tradeId,
          bidder: oneTime.address as `0x${string}`,
          sealed: seal({ payload: { hello: 1 }, senderWallet: oneTime, recipientPublicKey: dso.runtime.dso.publicKey, context: "elsewhere" }),
        },
      ),
    );
    expect(misSealed.code).toBe("unauthorized");

    // Still serving.
    const reply = await call(nc, s, endpoints.marketInfo, { type: "market.info.request" });
    expect(reply.market.contractAddress).toBe(dso.runtime.market.contractAddress);
    expect((await alice.ticket(Wallet.createRandom(), 0)).type).toBe("ticket.reply");
    expect(dso.runtime.counters().badMessages).toBeGreaterThanOrEqual(4);
  });
});
