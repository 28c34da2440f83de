import type { Dialect, SystemName } from '../dialect.ts';
import { switchboardDialect } from './switchboard.ts';
import { socketioDialect } from './socketio.ts';
import { wsDialect } from './ws.ts';

export const dialects: Record<SystemName, Dialect> = {
  switchboard: switchboardDialect,
  socketio: socketioDialect,
  ws: wsDialect,
};
