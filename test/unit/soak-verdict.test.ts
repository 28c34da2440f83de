import { test } from 'node:test';
import assert from 'node:assert/strict';
import { covered, type GapRecord } from '../../scripts/soak-verdict.ts';

test('soak verdict: a range covers only its own offsets of its epoch', () => {
  const gaps: GapRecord[] = [{ epoch: 'e1', from: 5, to: 7, epochChange: false, at: 1000 }];
  assert.equal(covered(gaps, 'e1', 6, 0), true);
  assert.equal(covered(gaps, 'e1', 8, 0), false);
  assert.equal(covered(gaps, 'e0', 6, 0), false, 'no stream reset: another epoch is not covered');
});

test('soak verdict: a stream reset covers older epochs sent before the report, not the new epoch outside its range', () => {
  const gaps: GapRecord[] = [{ epoch: 'e2', from: 1, to: 3, epochChange: true, at: 1000 }];
  assert.equal(covered(gaps, 'e1', 99, 900), true, 'tail of the lost stream');
  assert.equal(covered(gaps, 'e1', 99, 1001), false, 'sent after the report: cannot have been lost by that reset');
  assert.equal(covered(gaps, 'e2', 2, 2000), true);
  assert.equal(covered(gaps, 'e2', 4, 500), false, 'new epoch beyond the reported range');
  const rangeless: GapRecord[] = [{ epoch: 'e2', epochChange: true, at: 1000 }];
  assert.equal(covered(rangeless, 'e2', 1, 0), false, 'a range-less report names nothing of its own epoch');
  assert.equal(covered(rangeless, 'e1', 1, 0), true);
});
