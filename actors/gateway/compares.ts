// How many FHIPE `Compare`s (pairing checks) a mined transaction ran (the `chain.tx` span), counted from the node's
// own call trace: every `Compare` is exactly one call of the pairing precompile (address 0x08, EIP-197).
//
// Why a trace and not a contract counter: the contract's events do not carry the count, and adding one would cost
// every placement gas (transient storage writes on the comparator path, which is `view` today) and change the
// measured gas tables. The call trace is exact (it also counts the checks of entries the batch rejected, which were
// paid for), costs no gas, and runs after the receipt, off the ack path. Nodes without
// `debug_traceTransaction` + `callTracer` simply get no count (the attribute is omitted, never guessed from gas).
import type { JsonRpcProvider } from "ethers";
import type { Logger } from "../telemetry/logger.ts";
import { sameAddress } from "../../protocol/base/hex.ts";

export const PAIRING_PRECOMPILE = "0x0000000000000000000000000000000000000008";

type CallFrame = { to?: string; calls?: CallFrame[] };

/** Precompile calls in a `callTracer` frame tree. */
export function pairingCallsIn(frame: CallFrame): number {
  let count = sameAddress(frame.to, PAIRING_PRECOMPILE) ? 1 : 0;
  for (const child of frame.calls ?? []) count += pairingCallsIn(child);
  return count;
}

export type CompareCounter = {
  /** The count for a mined transaction, or undefined when the node cannot trace it. */
  count(txHash: string): Promise<number | undefined>;
};

export function createCompareCounter(provider: JsonRpcProvider, logger: Logger, enabled = true): CompareCounter {
  let supported = enabled;
  return {
    async count(txHash) {
      if (!supported) return undefined;
      try {
        const frame = (await provider.send("debug_traceTransaction", [txHash, { tracer: "callTracer" }])) as CallFrame;
        return pairingCallsIn(frame);
      } catch (error) {
        const message = (error as Error).message ?? "";
        if (/not (found|supported|available)|unsupported|does not exist|method/i.test(message)) {
          supported = false;
          logger.info({ reason: message.split("\n")[0] }, "the node cannot trace transactions: chain.tx spans carry no Compare count");
        }
        return undefined;
      }
    },
  };
}
