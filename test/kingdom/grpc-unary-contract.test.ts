/**
 * The contract grpc-unary.ts relies on with two functions Connect marks
 * `@private` (outside semver): `invokeUnaryImplementation` and
 * `setTrailerStatus`. An upgrade of @connectrpc/connect that changes their
 * parameters or what they do fails here, before it can change what the
 * Kingdom answers. grpc-unary.test.ts compares whole answers with Connect's
 * own gRPC handler over TLS.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createContextValues, createHandlerContext, createServiceImplSpec, type Interceptor, type MethodImplSpec, type ServiceImpl } from '@connectrpc/connect';
import { invokeUnaryImplementation } from '@connectrpc/connect/protocol';
import { setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { ErrorInfoSchema } from '../../src/gen/google/rpc/error_details_pb.js';
import { StatusSchema } from '../../src/gen/google/rpc/status_pb.js';
import { CertificateSchema, type Certificate } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { Certificates, GetCertificateRequestSchema } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { rpcError } from '../../src/kingdom/service/errors.js';

type UnarySpec = MethodImplSpec & { kind: 'unary' };

function getCertificateSpec(impl: (name: string) => MessageInitShape<typeof CertificateSchema>): UnarySpec {
  const service: Partial<ServiceImpl<typeof Certificates>> = { getCertificate: async (req) => impl(req.name) };
  const spec = createServiceImplSpec(Certificates, service).methods.getCertificate;
  assert.equal(spec?.kind, 'unary');
  return spec as UnarySpec;
}

function contextOf(spec: UnarySpec) {
  return createHandlerContext({
    service: spec.method.parent,
    method: spec.method,
    protocolName: 'grpc',
    requestMethod: 'POST',
    url: 'https://kingdom.test/wfa.measurement.api.v2alpha.Certificates/GetCertificate',
    requestHeader: [['x-caller', 'edp1']],
    responseHeader: { 'content-type': 'application/grpc+proto' },
    contextValues: createContextValues(),
  });
}

describe("Connect's private functions the plain unary path calls", () => {
  test('take the arguments grpc-unary.ts passes', () => {
    // A parameter added or dropped (invokeUnaryImplementation grew one before) shows here first.
    assert.equal(invokeUnaryImplementation.length, 4, 'invokeUnaryImplementation(spec, context, input, interceptors)');
    assert.equal(setTrailerStatus.length, 2, 'setTrailerStatus(target, error)');
  });

  test('invokeUnaryImplementation runs the interceptors outermost first around the handler and keeps their headers and trailers', async () => {
    const order: string[] = [];
    const interceptor =
      (label: string): Interceptor =>
      (next) =>
      async (req) => {
        order.push(`${label} in: ${req.header.get('x-caller')}`);
        const res = await next(req);
        order.push(`${label} out`);
        res.header.set(`x-${label}`, 'header');
        res.trailer.set(`x-${label}`, 'trailer');
        return res;
      };
    const spec = getCertificateSpec((name) => {
      order.push(`handler ${name}`);
      return { name, x509Der: new Uint8Array([1, 2]) };
    });
    const context = contextOf(spec);
    const input = create(GetCertificateRequestSchema, { name: 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs' });
    const output = await invokeUnaryImplementation(spec, context, input, [interceptor('outer'), interceptor('inner')]);
    assert.deepEqual(order, ['outer in: edp1', 'inner in: edp1', `handler ${input.name}`, 'inner out', 'outer out']);
    // A handler's plain object comes back as the response message.
    assert.equal(output.$typeName, CertificateSchema.typeName);
    assert.equal((output as Certificate).name, input.name);
    assert.equal(context.responseHeader.get('x-outer'), 'header');
    assert.equal(context.responseHeader.get('content-type'), 'application/grpc+proto');
    assert.equal(context.responseTrailer.get('x-inner'), 'trailer');
  });

  test('invokeUnaryImplementation lets a handler error through unchanged', async () => {
    const thrown = rpcError(Code.NotFound, 'CERTIFICATE_NOT_FOUND', 'Certificate not found.');
    const spec = getCertificateSpec(() => {
      throw thrown;
    });
    await assert.rejects(invokeUnaryImplementation(spec, contextOf(spec), create(GetCertificateRequestSchema), []), (err) => err === thrown);
  });

  test('setTrailerStatus writes status 0 for success', () => {
    const trailer = setTrailerStatus(new Headers(), undefined);
    assert.deepEqual([...trailer], [['grpc-status', '0']]);
  });

  test('setTrailerStatus writes the code, the percent-encoded message, the metadata and the details as google.rpc.Status', () => {
    const error = rpcError(Code.FailedPrecondition, 'CERTIFICATE_REVOKED', 'Certificate is revoked: 100% sure', { certificate: 'x/1' });
    error.metadata.set('x-kept', 'yes');
    const trailer = setTrailerStatus(new Headers(), error);
    assert.equal(trailer.get('grpc-status'), String(Code.FailedPrecondition));
    assert.equal(trailer.get('grpc-message'), 'Certificate%20is%20revoked%3A%20100%25%20sure');
    assert.equal(trailer.get('x-kept'), 'yes');
    const bin = trailer.get('grpc-status-details-bin');
    assert.ok(bin !== null, 'grpc-status-details-bin is set');
    const status = fromBinary(StatusSchema, Buffer.from(bin, 'base64'));
    assert.equal(status.code, Code.FailedPrecondition);
    assert.equal(status.message, 'Certificate is revoked: 100% sure');
    assert.equal(status.details.length, 1);
    const info = anyUnpack(status.details[0]!, ErrorInfoSchema);
    assert.equal(info?.reason, 'CERTIFICATE_REVOKED');
    assert.equal(info?.domain, 'halo.wfanet.org');
    assert.deepEqual(info?.metadata, { certificate: 'x/1' });
  });

  test('setTrailerStatus sends no details header for an error without details', () => {
    const trailer = setTrailerStatus(new Headers(), new ConnectError('client went away', Code.Canceled));
    assert.equal(trailer.get('grpc-status'), String(Code.Canceled));
    assert.equal(trailer.get('grpc-status-details-bin'), null);
  });
});
