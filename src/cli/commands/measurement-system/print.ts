/**
 * Output of `MeasurementSystem`: upstream prints messages with
 * `println(message)`, protobuf-java's text format (every line ending in a
 * newline) plus println's own newline, so a blank line follows; `--json`
 * prints the proto3 JSON form instead.
 */
import { createRegistry, toJson, type DescMessage, type JsonValue, type MessageShape } from '@bufbuild/protobuf';
import { toTextFormat } from '../../../api/text-format.js';
import { file_wfa_measurement_api_v2alpha_crypto } from '../../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { file_wfa_measurement_api_v2alpha_event_group } from '../../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { file_wfa_measurement_api_v2alpha_measurement_spec } from '../../../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { output } from '../../run.js';

/** The messages CMMS packs into `Any` fields, so JSON can expand them (`@type`). */
const registry = createRegistry(file_wfa_measurement_api_v2alpha_crypto, file_wfa_measurement_api_v2alpha_event_group, file_wfa_measurement_api_v2alpha_measurement_spec);

export function messageJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): JsonValue {
  return toJson(schema, message, { registry });
}

/** Prints `message` as upstream's `println(message)` does (after `header` lines) or, with `json`, as proto3 JSON. */
export function printMessage<Desc extends DescMessage>(json: boolean | undefined, schema: Desc, message: MessageShape<Desc>, header: string[] = []): void {
  if (json) output(json, messageJson(schema, message), () => '');
  else process.stdout.write(`${header.map((line) => `${line}\n`).join('')}${toTextFormat(schema, message)}\n`);
}

/** A proto enum value's name (or its number when unknown). */
export function enumName(values: Record<number, string>, value: number): string {
  return values[value] ?? String(value);
}
