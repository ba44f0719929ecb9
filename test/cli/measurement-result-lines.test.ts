/** `measurements get` prints a result as upstream's Kotlin does: `Frequency - `, then a tab, the key, two spaces and Java's Double.toString. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { resultLines } from '../../src/cli/commands/measurement-system/measurements.js';
import { Measurement_ResultSchema } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';

test("result lines as upstream's printMeasurementResult", () => {
  const result = create(Measurement_ResultSchema, {
    reach: { value: 1234n },
    frequency: { relativeFrequencyDistribution: { '10': 1e-7, '2': 0.25, '1': 1 } },
    impression: { value: 99n },
    watchDuration: { value: { seconds: 5n, nanos: 7 } },
  });
  assert.deepEqual(resultLines(result), ['Reach - 1234', 'Frequency - ', '\t1  1.0', '\t2  0.25', '\t10  1.0E-7', 'Impression - 99', 'WatchDuration - 5 seconds 7 nanos']);
});
