import { createRequire } from 'node:module';
import type protobuf from 'protobufjs/light.js';

/**
 * The Sparkplug B payload message (spBv1.0), written from the field numbers of the Sparkplug
 * 3.0 specification's `sparkplug_b.proto` (proto2). Extension ranges are left out: fields a
 * decoder does not know are skipped. Built once, on first use (README, "Sparkplug B input"): an agent without a Sparkplug
 * subscription never loads protobufjs (a few MB of resident memory on a gateway).
 */

const oneofValue = (names: string[]) => ({ value: { oneof: names } });

const SCHEMA: protobuf.INamespace = {
  nested: {
    Payload: {
      // proto2: explicit presence, so a seq or alias of 0 is sent and told apart from none
      // (protobufjs reads JSON schemas as proto3 unless told).
      edition: 'proto2',
      fields: {
        timestamp: { type: 'uint64', id: 1 },
        metrics: { rule: 'repeated', type: 'Metric', id: 2 },
        seq: { type: 'uint64', id: 3 },
        uuid: { type: 'string', id: 4 },
        body: { type: 'bytes', id: 5 },
      },
      nested: {
        Template: {
          fields: {
            version: { type: 'string', id: 1 },
            metrics: { rule: 'repeated', type: 'Metric', id: 2 },
            parameters: { rule: 'repeated', type: 'Parameter', id: 3 },
            templateRef: { type: 'string', id: 4 },
            isDefinition: { type: 'bool', id: 5 },
          },
          nested: {
            Parameter: {
              oneofs: oneofValue([
                'intValue',
                'longValue',
                'floatValue',
                'doubleValue',
                'booleanValue',
                'stringValue',
              ]),
              fields: {
                name: { type: 'string', id: 1 },
                type: { type: 'uint32', id: 2 },
                intValue: { type: 'uint32', id: 3 },
                longValue: { type: 'uint64', id: 4 },
                floatValue: { type: 'float', id: 5 },
                doubleValue: { type: 'double', id: 6 },
                booleanValue: { type: 'bool', id: 7 },
                stringValue: { type: 'string', id: 8 },
              },
            },
          },
        },
        DataSet: {
          fields: {
            numOfColumns: { type: 'uint64', id: 1 },
            columns: { rule: 'repeated', type: 'string', id: 2 },
            types: { rule: 'repeated', type: 'uint32', id: 3 },
            rows: { rule: 'repeated', type: 'Row', id: 4 },
          },
          nested: {
            DataSetValue: {
              oneofs: oneofValue([
                'intValue',
                'longValue',
                'floatValue',
                'doubleValue',
                'booleanValue',
                'stringValue',
              ]),
              fields: {
                intValue: { type: 'uint32', id: 1 },
                longValue: { type: 'uint64', id: 2 },
                floatValue: { type: 'float', id: 3 },
                doubleValue: { type: 'double', id: 4 },
                booleanValue: { type: 'bool', id: 5 },
                stringValue: { type: 'string', id: 6 },
              },
            },
            Row: { fields: { elements: { rule: 'repeated', type: 'DataSetValue', id: 1 } } },
          },
        },
        PropertyValue: {
          oneofs: oneofValue([
            'intValue',
            'longValue',
            'floatValue',
            'doubleValue',
            'booleanValue',
            'stringValue',
            'propertysetValue',
            'propertysetsValue',
          ]),
          fields: {
            type: { type: 'uint32', id: 1 },
            isNull: { type: 'bool', id: 2 },
            intValue: { type: 'uint32', id: 3 },
            longValue: { type: 'uint64', id: 4 },
            floatValue: { type: 'float', id: 5 },
            doubleValue: { type: 'double', id: 6 },
            booleanValue: { type: 'bool', id: 7 },
            stringValue: { type: 'string', id: 8 },
            propertysetValue: { type: 'PropertySet', id: 9 },
            propertysetsValue: { type: 'PropertySetList', id: 10 },
          },
        },
        PropertySet: {
          fields: {
            keys: { rule: 'repeated', type: 'string', id: 1 },
            values: { rule: 'repeated', type: 'PropertyValue', id: 2 },
          },
        },
        PropertySetList: {
          fields: { propertyset: { rule: 'repeated', type: 'PropertySet', id: 1 } },
        },
        MetaData: {
          fields: {
            isMultiPart: { type: 'bool', id: 1 },
            contentType: { type: 'string', id: 2 },
            size: { type: 'uint64', id: 3 },
            seq: { type: 'uint64', id: 4 },
            fileName: { type: 'string', id: 5 },
            fileType: { type: 'string', id: 6 },
            md5: { type: 'string', id: 7 },
            description: { type: 'string', id: 8 },
          },
        },
        Metric: {
          oneofs: oneofValue([
            'intValue',
            'longValue',
            'floatValue',
            'doubleValue',
            'booleanValue',
            'stringValue',
            'bytesValue',
            'datasetValue',
            'templateValue',
          ]),
          fields: {
            name: { type: 'string', id: 1 },
            alias: { type: 'uint64', id: 2 },
            timestamp: { type: 'uint64', id: 3 },
            datatype: { type: 'uint32', id: 4 },
            isHistorical: { type: 'bool', id: 5 },
            isTransient: { type: 'bool', id: 6 },
            isNull: { type: 'bool', id: 7 },
            metadata: { type: 'MetaData', id: 8 },
            properties: { type: 'PropertySet', id: 9 },
            intValue: { type: 'uint32', id: 10 },
            longValue: { type: 'uint64', id: 11 },
            floatValue: { type: 'float', id: 12 },
            doubleValue: { type: 'double', id: 13 },
            booleanValue: { type: 'bool', id: 14 },
            stringValue: { type: 'string', id: 15 },
            bytesValue: { type: 'bytes', id: 16 },
            datasetValue: { type: 'DataSet', id: 17 },
            templateValue: { type: 'Template', id: 18 },
          },
        },
      },
    },
  },
};

let payload: protobuf.Type | undefined;

/** The reflected `Payload` type: decode() and, for tests and Rebirth requests, encode(). */
export function payloadType(): protobuf.Type {
  if (!payload) {
    const pb = createRequire(import.meta.url)('protobufjs/light.js') as typeof protobuf;
    payload = pb.Root.fromJSON(SCHEMA).lookupType('Payload');
  }
  return payload;
}
