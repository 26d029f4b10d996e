// DSO setup effects (PROTOCOL §5 setup): master key (version 2: the epochs' keys), market contract, market
// description, trades to resume.
import { getAddress } from "ethers";
import type { DsoEffects } from "../../machines/dso.ts";
import type { CertifiedOpening, TradeRecord as MachineTradeRecord } from "../../machines/tradeSettlement.ts";
import { isTradeRecord } from "../../machines/tradeSettlement.ts";
import type { DsoDatabase, TradeRecord as StoredTrade } from "../db/dsoDatabase.ts";
import { dsoDefaults } from "../config/dso.ts";
import { createCertifier } from "./certifier.ts";
import { deployOrAttach, deployOrAttachSlotMarket, type Deployment } from "./contract.ts";
import { nowSeconds, type DsoDeps } from "./deps.ts";
import { DsoNotReadyError, DsoSetupError, EpochKeyError, MarketContractError, MasterKeyError, VaultKeyError } from "./errors.ts";
import { ChainMismatchError } from "../../contracts/client/errors.ts";
import { loadOrCreateMasterKey } from "./masterKey.ts";
import { certifiedOpeningOf } from "./slotTrades.ts";
import { type Address } from "../../protocol/base/hex.ts";

type SetupEffects = Pick<DsoEffects, "prepareMasterKey" | "deployOrAttachContract" | "publishMarketDescription" | "loadInFlightTrades" | "maintainEpochKeys">;

/** Version 2: a bidder's certified opening, as a trade's record holds it (null: this DSO never certified it). */
export function certifiedOpeningFor(db: DsoDatabase, bidder: string): CertifiedOpening | null {
  const record = db.certifiedBid(bidder);
  return record === undefined ? null : certifiedOpeningOf(record);
}

/**
 * The machine's record of a stored trade: its own saved record when there is one, else a fresh record at
 * `awaitingOpenings` (the match was stored, nothing else happened yet) — in version 2 (`certified` given) with the two
 * certified openings the DSO holds (PROTOCOL §5 v2 trading step 2). `closed` follows the database.
 */
export function machineRecordOf(trade: StoredTrade, certified?: (bidder: string) => CertifiedOpening | null): MachineTradeRecord | null {
  if (isTradeRecord(trade.machineRecord)) return { ...trade.machineRecord, closed: trade.closedAt !== null };
  if (trade.stage !== "awaitingOpenings") return null;
  return {
    matchId: trade.tradeId,
    buyBidder: trade.buyId as Address,
    sellBidder: trade.sellId as Address,
    stage: "awaitingOpenings",
    closed: trade.closedAt !== null,
    buyOpening: certified?.(trade.buyId) ?? null,
    sellOpening: certified?.(trade.sellId) ?? null,
    terms: null,
    settlement: null,
    resolution: null,
  };
}

/** What the setup span records of the contract step. */
export type ContractReady = { deployed: boolean; deployment?: Deployment | undefined };

/**
 * `onPermanentFailure` is told about errors that retrying cannot fix (a corrupt key, a contract of another market),
 * so the runtime stops instead of backing off for minutes; `onPublished` starts serving the description.
 */
export function setupEffects(
  deps: DsoDeps,
  hooks: { onPermanentFailure(error: Error): void; onPublished(): Promise<void>; onContract?(result: ContractReady): void },
): SetupEffects {
  const permanent = (error: unknown): never => {
    if (
      error instanceof MasterKeyError ||
      error instanceof ChainMismatchError ||
      error instanceof MarketContractError ||
      error instanceof DsoSetupError ||
      error instanceof VaultKeyError ||
      error instanceof EpochKeyError
    ) {
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
    // PROTOCOL §5 v2 setup and epochs: keys for the current and the next epoch, none kept past its retention.
    maintainEpochKeys: async () => {
      const slotMarket = deps.slotMarket;
      if (slotMarket === null) throw new DsoNotReadyError({ reason: "slotMarket" });
      try {
        const { prepared, destroyed, nextAt } = slotMarket.vault.maintain(nowSeconds(deps));
        if (prepared.length > 0 || destroyed.length > 0) deps.logger.info({ prepared, destroyed }, "epoch keys prepared and destroyed");
        return { prepared, destroyed, nextCheckInMs: Math.min(deps.clock.msUntil(nextAt), dsoDefaults.epochKeyCheckMaxMs) };
      } catch (error) {
        return permanent(error);
      }
    },
    deployOrAttachContract: async ({ dimension, slots }) => {
      if (slots !== undefined) {
        try {
          const slotMarket = deps.slotMarket;
          if (slotMarket === null) throw new DsoNotReadyError({ reason: "slotMarket" });
          const result = await deployOrAttachSlotMarket({
            db: deps.db,
            signer: deps.wallet,
            provider: deps.provider,
            params: slotMarket.params,
            calendar: slotMarket.calendar,
            contractAddress: deps.contractAddress,
          });
          deps.state.slotContract = result.market;
          deps.state.certifier = createCertifier({
            db: deps.db,
            vault: slotMarket.vault,
            params: slotMarket.params,
            calendar: slotMarket.calendar,
            ticketSigner: deps.wallet,
            domain: result.market.domain,
            maxTicketLifetimeSeconds: deps.config.dso.maxTicketLifetimeSeconds,
          });
          hooks.onContract?.(result);
          deps.logger.info({ contract: result.market.address, chainId: result.chainId, deployed: result.deployed, design: "v2" }, "slot market ready");
          return {
            chainId: result.chainId,
            contractAddress: getAddress(result.market.address) as Address,
            ticketSigner: getAddress(deps.wallet.address) as Address,
            deployed: result.deployed,
          };
        } catch (error) {
          return permanent(error);
        }
      }
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
      const certified = deps.slotMarket === null ? undefined : (bidder: string) => certifiedOpeningFor(deps.db, bidder);
      for (const trade of deps.db.listUnclosedTrades()) {
        const record = machineRecordOf(trade, certified);
        if (record) trades.push(record);
        else deps.logger.warn({ tradeId: trade.tradeId, stage: trade.stage }, "unclosed trade without a machine record: left for manual review");
      }
      return { trades };
    },
  };
}
