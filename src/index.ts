export * from './server/index.ts';
export * from './protocol/index.ts';
export type { Broker, BrokerHandler, Publication, PublishOptions, HistoryOptions, HistoryResult } from './broker/broker.ts';
export { MemoryBroker } from './broker/memory.ts';
