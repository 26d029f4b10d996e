// A version 2 market for tests (PROTOCOL §4 v2, §5 v2), all real: a local chain with the slot market (the DSO's key
// signs tickets, the gateway's account sends), the DSO's SQLite file with enrolled meters, its epoch keys and its
// certifier. The tests that use it: certifier, slot placer, bid services over NATS.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { openDsoDatabase, type DsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { createCertifier, type Certifier } from "../../actors/dso/certifier.ts";
import { EpochKeyVault } from "../../actors/dso/epochKeys.ts";
import { deploySlotMarket, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { blockParams, type BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { EpochCalendar } from "../../protocol/epochs.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";

export const V2_CALENDAR: EpochCalendar = { slotSeconds: 900, gateClosureSeconds: 300, slotsPerEpoch: 96, retentionSeconds: 86_400 };
export const V2_GAS = { gasLimit: 16_000_000n };

export type V2Market = {
  chain: LocalChain;
  provider: JsonRpcProvider;
  /** Connected to the gateway's account. */
  market: SlotMarketHandle;
  dso: Wallet;
  db: DsoDatabase;
  vault: EpochKeyVault;
  certifier: Certifier;
  params: BlockParams;
  /** The chain's time at start (Unix seconds), and a slot four slots ahead of it (open for a while). */
  now: number;
  slot: number;
  close(): Promise<void>;
};

/** Starts it; `meters` are enrolled in the DSO's database with these long-term keys. */
export async function startV2Market(options: { marketId: string; meters: readonly { meterId: string; key: { address: string; signingKey: { publicKey: string } } }[]; levels?: number; width?: number }): Promise<V2Market> {
  await initCurve();
  const params = blockParams(options.levels ?? 1024, options.width ?? 1);
  const chain = await startLocalChain();
  const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true });
  const dso = new Wallet(chain.accountKeys[0]!, provider);
  const deployed = await deploySlotMarket(new NonceManager(dso), { ticketSigner: dso.address, params, calendar: V2_CALENDAR });
  const market = { ...deployed, contract: deployed.contract.connect(new NonceManager(new Wallet(chain.accountKeys[1]!, provider))) as typeof deployed.contract };
  const dir = mkdtempSync(join(tmpdir(), `gridveil-${options.marketId}-`));
  const db = openDsoDatabase(join(dir, "dso.sqlite"));
  for (const { meterId, key } of options.meters) db.enrolMeter({ meterId, address: key.address, publicKey: key.signingKey.publicKey, name: meterId, inboxId: `inbox-${meterId}` });
  const vault = new EpochKeyVault({ db, vaultKey: new Uint8Array(randomBytes(32)), marketId: options.marketId, dimension: params.dim, calendar: V2_CALENDAR });
  const certifier = createCertifier({ db, vault, params, calendar: V2_CALENDAR, ticketSigner: dso, domain: market.domain, maxTicketLifetimeSeconds: 3_600 });
  const now = (await provider.getBlock("latest"))!.timestamp;
  return {
    chain,
    provider,
    market,
    dso,
    db,
    vault,
    certifier,
    params,
    now,
    slot: Math.floor(now / V2_CALENDAR.slotSeconds) + 4,
    async close() {
      db.close();
      provider.destroy();
      await chain.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
