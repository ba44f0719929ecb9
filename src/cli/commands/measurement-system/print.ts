/**
 * Output of `MeasurementSystem`: upstream prints messages with
 * `println(message)`, protobuf-java's text format (every line ending in a
 * newline) plus println's own newline, so a blank line follows; `--json`
 * prints the proto3 JSON form instead.
 */
import { toJson, type DescMessage, type JsonValue, type MessageShape } from '@bufbuild/protobuf';
import { packedMessageRegistry, toTextFormat } from '../../../api/index.js';
import { output } from '../../run.js';

/** Proto3 JSON, with the messages CMMS packs into `Any` fields expanded (`@type`). */
export function messageJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): JsonValue {
  return toJson(schema, message, { registry: packedMessageRegistry });
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
