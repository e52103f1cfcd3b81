import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { PAYLOAD_FORMATS, type PayloadFormat } from '../../src/config/schema.js';
import { ROOT } from './agent.js';

/**
 * The JSON Schema of each payload format, as the package ships them (schemas/), compiled with
 * Ajv. Ajv and ajv-formats are not dependencies of ours: they are in node_modules because
 * Fastify validates with them, and the tests use them as they are.
 */

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export const SCHEMA_FILES: Record<PayloadFormat, string> = {
  'edgehook/1': 'schemas/edgehook-1.schema.json',
  'cloudevents/1.0': 'schemas/cloudevents-1.0.schema.json',
};

let validators: Map<string, ValidateFunction> | undefined;

function compiled(): Map<string, ValidateFunction> {
  if (validators) return validators;
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
  addFormats(ajv);
  validators = new Map(
    PAYLOAD_FORMATS.map((f) => [
      f,
      ajv.compile(JSON.parse(readFileSync(join(ROOT, SCHEMA_FILES[f]), 'utf8')) as object),
    ]),
  );
  return validators;
}

/**
 * Problems of one request body against the schema of the format its `webhook-format` header
 * names; [] when it is valid. A missing or unknown format is a problem too.
 */
export function schemaProblems(format: string | undefined, body: string): string[] {
  const validate = compiled().get(format ?? '');
  if (!validate)
    return [`webhook-format ${JSON.stringify(format)} is not one of ${PAYLOAD_FORMATS.join(', ')}`];
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return [`body is not JSON: ${(err as Error).message}`];
  }
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${format}${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
}
