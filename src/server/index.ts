export { startNode, SwitchboardNode, type StartOptions, type RouteHandler } from './node.ts';
export { resolveOptions, ConfigError, type NodeOptions, type NodeOptionsInput, type NamespaceOptions } from './options.ts';
export { Session } from './session.ts';
export type { Transport, TransportHandler } from './transport.ts';
export type { Format } from './format.ts';
export { attach, fastifySwitchboard, type FastifyLike, type FastifyPluginLike } from './embed.ts';
export type { AnyHttpServer, HostMode, NextFunction } from './http-host.ts';
export type { TlsFileOptions } from './options.ts';
