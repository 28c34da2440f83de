export * from './app/index.ts';
export * from './protocol/index.ts';
export type { Broker, BrokerHandler, Publication, PublishOptions, HistoryOptions, HistoryResult } from './broker/broker.ts';
export { MemoryBroker } from './broker/memory.ts';
export { createSfu, SFU_DEFAULTS, type SfuNode, type SfuOptions, type SfuStats } from './webrtc/sfu/index.ts';
export type { SfuService, SfuPeerRef, SfuRequest, SfuEvent, SfuTrackInfo } from './protocol/sfu-contract.ts';
