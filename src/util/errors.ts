/** Errors shared by every room (server core, broker factory, transports, ingest, the CLI). */

/**
 * A configuration value that cannot be used: an unknown key, a wrong type, a value out of range,
 * or a combination that cannot work. The message names the bad field; the CLI prints it and exits 2.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
