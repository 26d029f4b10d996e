// The DSO signs a ticket admitting one one-time bidder until notAfter (PROTOCOL §4).
import type { Signer } from "ethers";
import { TICKET_TYPES } from "./eip712.ts";
import type { MarketDomain, Ticket } from "./types.ts";
import { type Hex } from "../../protocol/base/hex.ts";

export async function signTicket(dsoTicketKey: Signer, domain: MarketDomain, bidder: string, notAfter: bigint | number): Promise<Ticket> {
  const value = { bidder, notAfter: BigInt(notAfter) };
  const signature = (await dsoTicketKey.signTypedData(domain, TICKET_TYPES, value)) as Hex;
  return { bidder: bidder as Hex, notAfter: value.notAfter, signature };
}
