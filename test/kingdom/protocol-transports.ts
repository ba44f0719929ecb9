/**
 * Transports to a running Kingdom in each client protocol the server speaks:
 * gRPC, gRPC-Web (both binary) and Connect with JSON, over mTLS as one
 * participant (or with the admin token). JSON resolves Any fields with the
 * packed types' registry, as our client does.
 */
import type { Interceptor, Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { packedMessageRegistry } from '../../src/api/any-types.js';
import type { ServerProcess } from './server-fixtures.js';

export const PROTOCOLS = ['grpc', 'grpc-web', 'connect-json'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export function protocolTransport(
  server: Pick<ServerProcess, 'port' | 'kingdomRootPem'>,
  protocol: Protocol,
  caller: { tls: { certPem: string; keyPem: string } } | { adminToken: string } | 'anonymous',
): Transport {
  const interceptors: Interceptor[] = [];
  if (typeof caller === 'object' && 'adminToken' in caller) {
    const token = caller.adminToken;
    interceptors.push((next) => (req) => {
      req.header.set('authorization', `Bearer ${token}`);
      return next(req);
    });
  }
  const nodeOptions = {
    ca: server.kingdomRootPem,
    servername: 'localhost',
    ...(typeof caller === 'object' && 'tls' in caller ? { cert: caller.tls.certPem, key: caller.tls.keyPem } : {}),
  };
  const common = { baseUrl: `https://127.0.0.1:${server.port}`, httpVersion: '2' as const, nodeOptions, interceptors };
  switch (protocol) {
    case 'grpc':
      return createGrpcTransport(common);
    case 'grpc-web':
      return createGrpcWebTransport({ ...common, useBinaryFormat: true });
    case 'connect-json':
      return createConnectTransport({ ...common, useBinaryFormat: false, jsonOptions: { registry: packedMessageRegistry } });
  }
}
