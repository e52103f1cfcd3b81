import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { CloudEvent, HTTP } from 'cloudevents';
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
export function schemaProblems(format: string | undefined, body: string, contentType?: string): string[] {
  const validate = compiled().get(format ?? '');
  if (!validate)
    return [`webhook-format ${JSON.stringify(format)} is not one of ${PAYLOAD_FORMATS.join(', ')}`];
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return [`body is not JSON: ${(err as Error).message}`];
  }
  const problems = validate(value)
    ? []
    : (validate.errors ?? []).map((e) => `${format}${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
  if (format === 'cloudevents/1.0') {
    // Without the request's content-type (a unit test's body), the one the format prescribes.
    const type =
      contentType ??
      (Array.isArray(value) ? 'application/cloudevents-batch+json' : 'application/cloudevents+json');
    problems.push(...cloudEventsSdkProblems(body, type));
  }
  return problems;
}

/**
 * The official CloudEvents SDK's reading of a body (structured mode, single or batch), as a
 * CloudEvents consumer would parse it: every event must come out and pass the SDK's own
 * validation, with the attributes the README lists.
 */
export function cloudEventsSdkProblems(body: string, contentType: string | undefined): string[] {
  try {
    const parsed = HTTP.toEvent({ headers: { 'content-type': contentType ?? '' }, body });
    // The constructor validates each event (strict mode), as the SDK's consumers do.
    const events = (Array.isArray(parsed) ? parsed : [parsed]).map((e) => new CloudEvent<unknown>(e));
    const problems: string[] = [];
    for (const ev of events) {
      if (ev.specversion !== '1.0') problems.push(`CloudEvents SDK: specversion ${ev.specversion}`);
      if (!String(ev.source).startsWith('edgehook://')) problems.push(`CloudEvents SDK: source ${ev.source}`);
      if (typeof ev.seq !== 'number' && typeof ev.seq !== 'string') problems.push('CloudEvents SDK: no seq');
    }
    return problems;
  } catch (err) {
    return [`CloudEvents SDK cannot read the body: ${(err as Error).message}`];
  }
}
