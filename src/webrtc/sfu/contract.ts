/** Moved to protocol/sfu-contract.ts (the contract is shared by the SDK, the server core and the media plane); kept so the SFU's imports stay put. */
export * from '../../protocol/sfu-contract.ts';
