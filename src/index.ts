export * from './server/index.ts';
export * from './protocol/index.ts';
export type { Broker, BrokerHandler, Publication, PublishOptions, HistoryOptions, HistoryResult } from './broker/broker.ts';
export { MemoryBroker } from './broker/memory.ts';
export { SfuRouterService, SFU_DEFAULTS, type SfuOptions } from './webrtc/sfu/router.ts';
export type { SfuService, SfuPeerRef, SfuRequest, SfuEvent, SfuTrackInfo } from './webrtc/sfu/contract.ts';
