/**
 * Who may do what, as upstream's public layer decides it (cmms-reference
 * §2.3-§2.9). Pure functions over principals and resource keys, so the
 * authorization matrix is one table to read and to test.
 */
import {
  formatResourceName,
  type CertificateParentKey,
  type DataProviderKey,
  type MeasurementConsumerKey,
  type ModelProviderKey,
} from '../../api/index.js';
import { permissionDenied } from './errors.js';
import { samePrincipal, type Principal } from './principal.js';

/** Permission names as upstream writes them in PERMISSION_DENIED messages. */
export type Permission = 'GET' | 'LIST' | 'CREATE' | 'REVOKE' | 'RELEASE_HOLD' | 'UPDATE';

/**
 * GetCertificate (§2.3): the owner; anyone for Duchy and ModelProvider
 * certificates; MCs, MPs and Duchies (not other DPs) for DataProvider
 * certificates; DataProviders (not Duchies or MPs) for MC certificates.
 */
export function canGetCertificate(principal: Principal, parent: CertificateParentKey): boolean {
  if (samePrincipal(principal, parent)) return true;
  switch (parent.kind) {
    case 'duchy':
    case 'modelProvider':
      return true;
    case 'dataProvider':
      return principal.kind === 'measurementConsumer' || principal.kind === 'modelProvider' || principal.kind === 'duchy';
    case 'measurementConsumer':
      return principal.kind === 'dataProvider';
  }
}

/** GetDataProvider (§2.9): the DataProvider itself, any MC or any MP; never a Duchy. */
export function canGetDataProvider(principal: Principal, key: DataProviderKey): boolean {
  if (principal.kind === 'dataProvider') return samePrincipal(principal, key);
  return principal.kind === 'measurementConsumer' || principal.kind === 'modelProvider';
}

/** GetMeasurementConsumer (§2.9): any DataProvider, or the MC itself. */
export function canGetMeasurementConsumer(principal: Principal, key: MeasurementConsumerKey): boolean {
  if (principal.kind === 'measurementConsumer') return samePrincipal(principal, key);
  return principal.kind === 'dataProvider';
}

/** GetModelProvider (upstream ModelProvidersService): the MP itself, any DP or any MC. */
export function canGetModelProvider(principal: Principal, key: ModelProviderKey): boolean {
  if (principal.kind === 'modelProvider') return samePrincipal(principal, key);
  return principal.kind === 'dataProvider' || principal.kind === 'measurementConsumer';
}

/**
 * List, Create, Revoke, ReleaseHold and UpdatePublicKey: only the parent
 * itself. Throws PERMISSION_DENIED naming `resource` otherwise.
 */
export function requireParent(principal: Principal, parent: CertificateParentKey, permission: Permission, resource: string): void {
  if (!samePrincipal(principal, parent)) throw permissionDenied(permission, resource);
}

/** Throws PERMISSION_DENIED on `key`'s name unless `allowed`. */
export function requireAllowed(allowed: boolean, permission: Permission, resource: CertificateParentKey | string): void {
  if (!allowed) throw permissionDenied(permission, typeof resource === 'string' ? resource : formatResourceName(resource));
}
