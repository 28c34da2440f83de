/**
 * The CLI's `sfu` section (src/cli/sfu.ts): file keys and SWITCHBOARD_SFU_* variables become SFU
 * options; unknown keys, wrong types and out-of-range numbers are configuration errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveSfuConfig, sfuEnvName } from '../../src/cli/sfu.ts';
import { ConfigError } from '../../src/server/options.ts';

test('sfu section and environment: values pass through, the environment wins', () => {
  assert.deepEqual(resolveSfuConfig(undefined, {}), {});
  assert.equal(sfuEnvName('hostAddresses'), 'SWITCHBOARD_SFU_HOST_ADDRESSES');
  assert.equal(sfuEnvName('maxRecordingMs'), 'SWITCHBOARD_SFU_MAX_RECORDING_MS');
  const out = resolveSfuConfig(
    { workers: 1, hostAddresses: ['203.0.113.7'], dynacast: false, recordDir: '/var/rec' },
    { SWITCHBOARD_SFU_WORKERS: '2', SWITCHBOARD_SFU_HOST_ADDRESSES: '198.51.100.1, 198.51.100.2', SWITCHBOARD_SFU_MAX_ROOMS: '10' },
  );
  assert.deepEqual(out, { workers: 2, hostAddresses: ['198.51.100.1', '198.51.100.2'], dynacast: false, recordDir: '/var/rec', maxRooms: 10 });
  assert.deepEqual(resolveSfuConfig({}, { SWITCHBOARD_SFU_DYNACAST: 'off' }), { dynacast: false });
});

test('sfu section: bad input is a ConfigError naming the key', () => {
  const bad: Array<[unknown, NodeJS.ProcessEnv, RegExp]> = [
    [[], {}, /sfu must be an object/],
    [{ worker: 2 }, {}, /sfu\.worker is not an SFU option.*workers/],
    [{ workers: -1 }, {}, /sfu\.workers must be an integer from 0 to 64/],
    [{ workers: 1.5 }, {}, /sfu\.workers/],
    [{ maxParticipants: 1 }, {}, /sfu\.maxParticipants/],
    [{ dynacast: 'yes' }, {}, /sfu\.dynacast must be true or false/],
    [{ hostAddresses: '1.2.3.4' }, {}, /sfu\.hostAddresses must be a list/],
    [{ recordDir: '' }, {}, /sfu\.recordDir must be a non-empty string/],
    [{}, { SWITCHBOARD_SFU_WORKERS: 'two' }, /SWITCHBOARD_SFU_WORKERS must be an integer/],
    [{}, { SWITCHBOARD_SFU_DYNACAST: 'maybe' }, /SWITCHBOARD_SFU_DYNACAST must be true or false/],
  ];
  for (const [section, env, re] of bad) {
    assert.throws(() => resolveSfuConfig(section, env), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify([section, env]));
  }
});
