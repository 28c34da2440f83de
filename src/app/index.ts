/** The server side of the package: the core (server/) and the composition root that wires the outer rooms into it. */
export * from '../server/index.ts';
export { startNode, SwitchboardNode } from './node.ts';
export { attach, fastifySwitchboard, type FastifyLike, type FastifyPluginLike } from './embed.ts';
