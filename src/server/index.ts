export { NodeCore, PartialDisconnectError, type StartOptions, type RouteHandler, type UpgradeHandler, type NodeService, type CoreSeams } from './core.ts';
export { resolveOptions, ConfigError, type NodeOptions, type NodeOptionsInput, type NamespaceOptions } from './options.ts';
export { Session } from './session.ts';
export type { Transport, TransportHandler } from './transport.ts';
export type { Format } from './format.ts';
export type { AnyHttpServer, HostMode, NextFunction } from './http-host.ts';
export type { TlsFileOptions } from './options.ts';
