// DSO setup effects (PROTOCOL §5 setup): master key, market contract, market description, trades to resume.
import { getAddress } from "ethers";
import type { DsoEffects } from "../../machines/dso.ts";
import type { TradeRecord as MachineTradeRecord } from "../../machines/tradeSettlement.ts";
import { isTradeRecord } from "../../machines/tradeSettlement.ts";
import type { TradeRecord as StoredTrade } from "../db/dsoDatabase.ts";
import { deployOrAttach, type DeployOrAttachResult } from "./contract.ts";
import { type DsoDeps } from "./deps.ts";
import { DsoSetupError, MarketContractError, MasterKeyError } from "./errors.ts";
import { ChainMismatchError } from "../../contracts/client/errors.ts";
import { loadOrCreateMasterKey } from "./masterKey.ts";
import { type Address } from "../../protocol/base/hex.ts";

type SetupEffects = Pick<DsoEffects, "prepareMasterKey" | "deployOrAttachContract" | "publishMarketDescription" | "loadInFlightTrades">;

/**
 * The machine's record of a stored trade: its own saved record when there is one, else a fresh record at
 * `awaitingOpenings` (the match was stored, nothing else happened yet). `closed` follows the database.
 */
export function machineRecordOf(trade: StoredTrade): MachineTradeRecord | null {
  if (isTradeRecord(trade.machineRecord)) return { ...trade.machineRecord, closed: trade.closedAt !== null };
  if (trade.stage !== "awaitingOpenings") return null;
  return {
    matchId: trade.tradeId,
    buyBidder: trade.buyId as Address,
    sellBidder: trade.sellId as Address,
    stage: "awaitingOpenings",
    closed: trade.closedAt !== null,
    buyOpening: null,
    sellOpening: null,
    terms: null,
    settlement: null,
    resolution: null,
  };
}

/**
 * `onPermanentFailure` is told about errors that retrying cannot fix (a corrupt key, a contract of another market),
 * so the runtime stops instead of backing off for minutes; `onPublished` starts serving the description.
 */
export function setupEffects(
  deps: DsoDeps,
  hooks: { onPermanentFailure(error: Error): void; onPublished(): Promise<void>; onContract?(result: DeployOrAttachResult): void },
): SetupEffects {
  const permanent = (error: unknown): never => {
    if (error instanceof MasterKeyError || error instanceof ChainMismatchError || error instanceof MarketContractError || error instanceof DsoSetupError) {
      hooks.onPermanentFailure(error);
    }
    throw error;
  };
  return {
    prepareMasterKey: async ({ dimension }) => {
      try {
        const { msk, created } = loadOrCreateMasterKey(deps.dataDir, dimension);
        deps.state.msk = msk;
        deps.logger.info({ dimension, created }, created ? "FHIPE master key created" : "FHIPE master key loaded");
        return { created };
      } catch (error) {
        return permanent(error);
      }
    },
    deployOrAttachContract: async ({ dimension }) => {
      try {
        const result = await deployOrAttach({
          db: deps.db,
          signer: deps.wallet,
          provider: deps.provider,
          dimension,
          contractAddress: deps.contractAddress,
        });
        deps.state.contract = result.market;
        hooks.onContract?.(result);
        deps.logger.info({ contract: result.market.address, chainId: result.chainId, deployed: result.deployed }, "market contract ready");
        return {
          chainId: result.chainId,
          contractAddress: getAddress(result.market.address) as Address,
          ticketSigner: getAddress(deps.wallet.address) as Address,
          deployed: result.deployed,
        };
      } catch (error) {
        return permanent(error);
      }
    },
    publishMarketDescription: async ({ market }) => {
      deps.state.description = market;
      await hooks.onPublished();
    },
    loadInFlightTrades: async () => {
      const trades: MachineTradeRecord[] = [];
      for (const trade of deps.db.listUnclosedTrades()) {
        const record = machineRecordOf(trade);
        if (record) trades.push(record);
        else deps.logger.warn({ tradeId: trade.tradeId, stage: trade.stage }, "unclosed trade without a machine record: left for manual review");
      }
      return { trades };
    },
  };
}
