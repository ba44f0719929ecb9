/**
 * Output of `MeasurementSystem`: upstream prints messages in protobuf text
 * format (`println(message)`); `--json` prints the proto3 JSON form instead.
 */
import { toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { toTextFormat } from '../../../api/text-format.js';
import { output } from '../../run.js';

/** Prints `message` as text format (after `header` lines) or, with `json`, as proto3 JSON. */
export function printMessage<Desc extends DescMessage>(json: boolean | undefined, schema: Desc, message: MessageShape<Desc>, header: string[] = []): void {
  output(json, toJson(schema, message), () => [...header, toTextFormat(schema, message).replace(/\n$/, '')].join('\n'));
}

/** A proto enum value's name (or its number when unknown). */
export function enumName(values: Record<number, string>, value: number): string {
  return values[value] ?? String(value);
}
