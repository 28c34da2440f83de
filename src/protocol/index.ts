export * from './codes.ts';
export * from './errors.ts';
export * from './frames.ts';
export * from './codec.ts';
