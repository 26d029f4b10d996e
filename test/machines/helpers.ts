// Test kit for the machine tests: fake effects that record their inputs, a microtask flush, and protocol fixtures.
import { SimulatedClock, createActor, fromPromise } from "xstate";
import type { ActorOptions, AnyEventObject, AnyStateMachine, ContextFrom, EventFrom, InputFrom, PromiseActorLogic } from "xstate";
import { parseMachineConfig } from "../../machines/config.ts";
import type { MachineConfig, MachineConfigInput } from "../../machines/config.ts";
import type {
  CancelBidInput,
  CreateOneTimeIdentityInput,
  CreateOneTimeIdentityOutput,
  EncryptBidInput,
  EncryptBidOutput,
  ReadMeterInput,
  ReadMeterOutput,
  ReportDisputeInput,
  ReportReadingInput,
  RequestTicketInput,
  RequestTicketOutput,
  SendOpeningInput,
  SignBidInput,
  CertifyBidInput,
  CertifyBidOutput,
  AwaitSlotEndInput,
  SignBidOutput,
  SubmitBidInput,
  VerifyCounterpartOpeningInput,
  VerifyCounterpartOpeningOutput,
} from "../../machines/bidSession.ts";
import type {
  PublishTradeOutcomeInput,
  RegisterMatchInput,
  RegisterMatchOutput,
  SaveTradeInput,
  SendTermsInput,
  VerifyOpeningInput,
  VerifyOpeningOutput,
  WriteSettlementInput,
} from "../../machines/tradeSettlement.ts";
import { freshRecord } from "../../machines/tradeSettlement/record.ts";
import { toAddress, type Address, type Hex } from "../../protocol/base/hex.ts";
import { type BidCiphertext, type MarketDescription, type Match, type Opening, type SignedBid } from "../../protocol/domain.ts";

/** Lets resolved promises and the actors' deferred work run (fake effects resolve in microtasks). */
export async function flush(rounds = 8): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Starts a machine on a simulated clock and returns the means to drive it: `send` (any event, malformed ones too),
 * `advance` (the clock, then a flush), `runFor` (in small steps, so timers scheduled after an async effect, such as
 * retry chains, fire too), `state` (the leaf path) and `context`.
 */
export async function started<TMachine extends AnyStateMachine>(machine: TMachine, input: InputFrom<TMachine>) {
  const clock = new SimulatedClock();
  const actor = createActor(machine, { input, clock } as ActorOptions<TMachine>);
  actor.start();
  await flush();
  const advance = async (ms: number) => {
    clock.increment(ms);
    await flush();
  };
  const runFor = async (ms: number, step = 100) => {
    for (let elapsed = 0; elapsed < ms; elapsed += step) await advance(Math.min(step, ms - elapsed));
  };
  const send = async (event: EventFrom<TMachine> | AnyEventObject) => {
    actor.send(event as EventFrom<TMachine>);
    await flush();
  };
  // A machine snapshot has both; the generic SnapshotFrom does not say so.
  const snapshot = () => actor.getSnapshot() as unknown as { value: unknown; context: ContextFrom<TMachine> };
  const state = () => leafPath(snapshot().value);
  const context = (): ContextFrom<TMachine> => snapshot().context;
  return { actor, clock, advance, runFor, send, state, context };
}

export type Deferred<T> = { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void };
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A fake promise effect: records every input in `calls` and answers with `respond(input, callIndex)`, which may
 * return a value, a promise, or throw.
 */
export type FakeEffect<TOutput, TInput> = {
  /** The effect as a runtime provides it (`provideX`). */
  run: (input: TInput) => Promise<TOutput>;
  /** The same as XState actor logic (`machine.provide`). */
  logic: PromiseActorLogic<TOutput, TInput>;
  calls: TInput[];
  respond: (input: TInput, call: number) => TOutput | Promise<TOutput>;
  /** The first `times` calls fail with `message`; later ones answer as before. */
  failFirst: (times: number, message: string) => void;
  /** Every call fails with `message`. */
  failAlways: (message: string) => void;
};
export function fake<TOutput, TInput>(
  respond: (input: TInput, call: number) => TOutput | Promise<TOutput>,
): FakeEffect<TOutput, TInput> {
  const run = async (input: TInput): Promise<TOutput> => {
    effect.calls.push(input);
    return effect.respond(input, effect.calls.length - 1);
  };
  const effect: FakeEffect<TOutput, TInput> = {
    calls: [],
    respond,
    run,
    logic: fromPromise<TOutput, TInput>(({ input }) => run(input)),
    failAlways: (message) => effect.failFirst(Number.POSITIVE_INFINITY, message),
    failFirst: (times, message) => {
      const then = effect.respond;
      effect.respond = (input, call) => {
        if (call < times) throw new Error(message);
        return then(input, call);
      };
    },
  };
  return effect;
}

/** `{ name: fake }` → `{ name: fake.run }`, the shape the `provideX` helpers take. */
export function runsOf<T extends Record<string, { run: unknown }>>(fakes: T): { [K in keyof T]: T[K]["run"] } {
  return Object.fromEntries(Object.entries(fakes).map(([name, effect]) => [name, effect.run])) as {
    [K in keyof T]: T[K]["run"];
  };
}

export function config(overrides: MachineConfigInput = {}): MachineConfig {
  return parseMachineConfig(overrides);
}

export const LEVELS = 10;
export const DIMENSION = LEVELS + 1;

/** A test address in its canonical (EIP-55) form, as every parsed event carries it. */
export function address(n: number): Address {
  return toAddress(`0x${n.toString(16).padStart(40, "0")}`);
}
export function bytes32(n: number): Hex {
  return `0x${n.toString(16).padStart(64, "0")}`;
}

/** A 65-byte signature-shaped value (the machines check the shape; the runtimes check the signature itself). */
export function signature(byte: number): Hex {
  return `0x${byte.toString(16).padStart(2, "0").repeat(65)}`;
}

export const market: MarketDescription = {
  marketId: "m1",
  chainId: 31337,
  contractAddress: address(0xc0),
  ticketSigner: address(0xd5),
  fhipe: { curve: "BN254", dimension: DIMENSION },
  priceLevels: { firstPriceMicroPerKWh: 100_000, stepMicroPerKWh: 10_000, count: LEVELS },
  clearingRule: "midpoint",
};

export function ciphertext(seed = 1): BidCiphertext {
  return {
    left: Array.from({ length: 2 * DIMENSION }, (_, i) => String(seed * 1000 + i)),
    right: Array.from({ length: 4 * DIMENSION }, (_, i) => String(seed * 1000 + i)),
  };
}

export function opening(priceLevel: number, quantityWh: number, seed = 1): Opening {
  return { priceLevel, quantityWh, salt: bytes32(seed), alpha: String(1000 + seed), beta: String(2000 + seed) };
}

export function signedBid(bidderNumber: number, side: "buy" | "sell" = "buy"): SignedBid {
  const bidder = address(bidderNumber);
  return {
    bidder,
    side,
    ciphertext: ciphertext(bidderNumber),
    commitment: bytes32(bidderNumber),
    ticket: { bidder, notAfter: 2_000_000_000, signature: signature(0x12) },
    bidderSignature: signature(0xab),
  };
}

/** The terms of a buy at level 6 and a sell of 600 Wh at level 4: 600 Wh at the midpoint, 150,000 µ/kWh. */
export function midpointTerms(match: Match) {
  return {
    matchId: match.matchId,
    buyBidder: match.buyBidder,
    sellBidder: match.sellBidder,
    buyLevel: 6,
    sellLevel: 4,
    quantityWh: 600,
    priceMicroPerKWh: 150_000,
    clearingRule: "midpoint" as const,
  };
}

/** Leaf state path of a snapshot value, e.g. `trading.opening.awaitingTerms`. */
export function leafPath(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    return entries.map(([key, child]) => `${key}.${leafPath(child)}`).join("|");
  }
  return String(value);
}

/** Every active leaf of a (possibly parallel) state value as a full dotted path. */
export function leafPaths(value: unknown, prefix = ""): string[] {
  if (typeof value === "string") return [prefix + value];
  if (value && typeof value === "object")
    return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => leafPaths(child, `${prefix}${key}.`));
  return [];
}

/** Fake effects of a bid session that all succeed; `identity(call)` is the one-time id of the `call`-th session. */
/** What a DSO certifies for `input` (version 2): a well-formed certified bid and its opening. */
export function certifiedBid(input: CertifyBidInput): Extract<CertifyBidOutput, { kind: "certified" }> {
  const side = input.side === "buy" ? 0 : 1;
  return {
    kind: "certified",
    bid: {
      bidder: input.bidder,
      side,
      slot: input.slot,
      notAfter: 2_000_000_000,
      commitment: bytes32(7),
      ciphertextRoot: bytes32(8),
      ciphertext: ["1", "2", "3", "4", "5", "6"],
      ticketSignature: signature(0x11),
    },
    opening: { side, slot: input.slot, priceLevel: input.priceLevel, quantityWh: input.quantityWh, salt: bytes32(9), seed: bytes32(10) },
    matchWaitMs: 60_000,
  };
}

export function bidSessionFakes(identity: (call: number) => Address) {
  return {
    createOneTimeIdentity: fake<CreateOneTimeIdentityOutput, CreateOneTimeIdentityInput>((_input, call) => ({ bidder: identity(call) })),
    requestTicket: fake<RequestTicketOutput, RequestTicketInput>(({ bidder }) => ({
      ticket: { bidder, notAfter: 2_000_000_000, signature: signature(0x11) },
    })),
    encryptBid: fake<EncryptBidOutput, EncryptBidInput>(({ priceLevel, quantityWh }) => ({
      ciphertext: ciphertext(),
      commitment: bytes32(7),
      opening: opening(priceLevel, quantityWh),
    })),
    certifyBid: fake<CertifyBidOutput, CertifyBidInput>(certifiedBid),
    awaitSlotEnd: fake<void, AwaitSlotEndInput>(() => undefined),
    signBid: fake<SignBidOutput, SignBidInput>(() => ({ bidderSignature: signature(0x22) })),
    submitBid: fake<void, SubmitBidInput>(() => undefined),
    cancelBid: fake<void, CancelBidInput>(() => undefined),
    sendOpening: fake<void, SendOpeningInput>(() => undefined),
    verifyCounterpartOpening: fake<VerifyCounterpartOpeningOutput, VerifyCounterpartOpeningInput>(() => ({ valid: true })),
    reportDispute: fake<void, ReportDisputeInput>(() => undefined),
    readMeter: fake<ReadMeterOutput, ReadMeterInput>(({ quantityWh }) => ({ measuredWh: quantityWh })),
    reportReading: fake<void, ReportReadingInput>(() => undefined),
  };
}

/** Fake effects of a trade's settlement that all succeed; a match is registered as new. */
export function tradeSettlementFakes() {
  return {
    registerMatch: fake<RegisterMatchOutput, RegisterMatchInput>(({ match }) => ({ record: freshRecord(match), created: true })),
    saveTrade: fake<void, SaveTradeInput>(() => undefined),
    verifyOpening: fake<VerifyOpeningOutput, VerifyOpeningInput>(() => ({ valid: true })),
    sendTerms: fake<void, SendTermsInput>(() => undefined),
    writeSettlement: fake<void, WriteSettlementInput>(() => undefined),
    publishTradeOutcome: fake<void, PublishTradeOutcomeInput>(() => undefined),
  };
}
