/**
 * The full authorization matrix: every kind of caller against every
 * operation on resources of every owner type, over the in-memory transport
 * with a real store (see fixtures.ts). The expected table below is written
 * from cmms-reference §2.3-§2.9 (and upstream's ModelProvidersService for
 * GetModelProvider), independently of src/kingdom/service/authorization.ts.
 * Each cell is an actual call; allowed writes really happen.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { Certificate_RevocationState as State } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { Certificates } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { DataProviders } from '../../src/gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { EventGroups } from '../../src/gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { MeasurementConsumers } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { ModelProviders } from '../../src/gen/wfa/measurement/api/v2alpha/model_providers_service_pb.js';
import { PublicKeys } from '../../src/gen/wfa/measurement/api/v2alpha/public_keys_service_pb.js';
import { as, type Caller, createParty, openTestKingdom, signedEncryptionPublicKey, type TestKingdom, type TestParty } from './fixtures.js';

/** Callers: owners are dpA, mcA, mpA and duchyA; the B parties are strangers of the same kind. */
const CALLERS = ['dpA', 'dpB', 'mcA', 'mcB', 'mcA-apiKey', 'mpA', 'mpB', 'duchyA', 'duchyB', 'none'] as const;
type CallerLabel = (typeof CALLERS)[number];
type Owner = 'dpA' | 'mcA' | 'mpA' | 'duchyA';
type Outcome = 'allow' | 'deny' | 'unauth';

const AUTHENTICATED = CALLERS.filter((c) => c !== 'none');
const OWNER_CALLERS: Record<Owner, CallerLabel[]> = {
  dpA: ['dpA'],
  mcA: ['mcA', 'mcA-apiKey'],
  mpA: ['mpA'],
  duchyA: ['duchyA'],
};

/** Who may act, per operation and owner, from the reference (not from the code under test). */
const ALLOWED: Record<string, readonly CallerLabel[]> = {
  // §2.3 GetCertificate
  'GetCertificate dpA': ['dpA', 'mcA', 'mcB', 'mcA-apiKey', 'mpA', 'mpB', 'duchyA', 'duchyB'],
  'GetCertificate mcA': ['mcA', 'mcA-apiKey', 'dpA', 'dpB'],
  'GetCertificate mpA': AUTHENTICATED,
  'GetCertificate duchyA': AUTHENTICATED,
  // §2.2, §2.4, §2.5, §2.6: the parent only
  ...Object.fromEntries(
    (['ListCertificates', 'CreateCertificate', 'RevokeCertificate', 'ReleaseCertificateHold'] as const).flatMap((op) =>
      (['dpA', 'mcA', 'mpA', 'duchyA'] as const).map((owner) => [`${op} ${owner}`, OWNER_CALLERS[owner]]),
    ),
  ),
  // §2.7 UpdatePublicKey: the parent only
  'UpdatePublicKey dpA': OWNER_CALLERS.dpA,
  'UpdatePublicKey mcA': OWNER_CALLERS.mcA,
  // §2.9
  'GetDataProvider dpA': ['dpA', 'mcA', 'mcB', 'mcA-apiKey', 'mpA', 'mpB'],
  'GetMeasurementConsumer mcA': ['mcA', 'mcA-apiKey', 'dpA', 'dpB'],
  // upstream ModelProvidersService (List checks no principal upstream; here any authenticated caller)
  'GetModelProvider mpA': ['mpA', 'dpA', 'dpB', 'mcA', 'mcB', 'mcA-apiKey'],
  'ListModelProviders': AUTHENTICATED,
  // upstream DataProvidersService: the DataProvider itself
  ...Object.fromEntries(
    (['ReplaceDataProviderRequiredDuchies', 'ReplaceDataAvailabilityIntervals', 'ReplaceDataAvailabilityInterval', 'ReplaceDataProviderCapabilities'] as const).map(
      (op) => [`${op} dpA`, OWNER_CALLERS.dpA],
    ),
  ),
  // upstream EventGroupsService: the parent DataProvider
  'BatchCreateEventGroups dpA': OWNER_CALLERS.dpA,
  'BatchUpdateEventGroups dpA': OWNER_CALLERS.dpA,
};

function expected(cell: string, caller: CallerLabel): Outcome {
  if (caller === 'none') return 'unauth';
  const allowed = ALLOWED[cell];
  assert.ok(allowed, `no expectation for ${cell}`);
  return allowed.includes(caller) ? 'allow' : 'deny';
}

describe('authorization matrix', () => {
  let k: TestKingdom;
  let parties: Record<Exclude<CallerLabel, 'mcA-apiKey' | 'none'>, TestParty>;
  let callers: Record<CallerLabel, Caller>;
  const totals = { allow: 0, deny: 0, unauth: 0 };

  before(async () => {
    k = await openTestKingdom();
    parties = {
      dpA: await createParty(k, 'DATA_PROVIDER'),
      dpB: await createParty(k, 'DATA_PROVIDER'),
      mcA: await createParty(k, 'MEASUREMENT_CONSUMER'),
      mcB: await createParty(k, 'MEASUREMENT_CONSUMER'),
      mpA: await createParty(k, 'MODEL_PROVIDER'),
      mpB: await createParty(k, 'MODEL_PROVIDER'),
      duchyA: await createParty(k, 'DUCHY', { duchyId: 'aggregator' }),
      duchyB: await createParty(k, 'DUCHY', { duchyId: 'worker1' }),
    };
    const apiKey = (await k.admin.createApiKey({ measurementConsumer: parties.mcA.name })).authenticationKey;
    callers = {
      ...(Object.fromEntries(Object.entries(parties).map(([label, party]) => [label, as(party)])) as Record<keyof typeof parties, Caller>),
      'mcA-apiKey': { apiKey },
      none: 'anonymous',
    };
  });
  after(async () => {
    await k?.close();
  });

  /** Runs `call` for every caller and compares the observed outcomes with the table. */
  async function row<T = undefined>(
    cell: string,
    call: (caller: Caller, prepared: T) => Promise<unknown>,
    prepare: () => Promise<T> = async () => undefined as T,
  ): Promise<void> {
    const observed: Record<string, string> = {};
    const want: Record<string, string> = {};
    for (const label of CALLERS) {
      want[label] = expected(cell, label);
      const prepared = await prepare();
      const before = await k.auditLength();
      try {
        await call(callers[label], prepared);
        observed[label] = 'allow';
      } catch (err) {
        if (!(err instanceof ConnectError)) throw err;
        if (err.code === Code.PermissionDenied) {
          observed[label] = 'deny';
          assert.match(err.rawMessage, /^Permission (GET|LIST|CREATE|REVOKE|RELEASE_HOLD|UPDATE|replace\w+) denied on resource \S+ \(or it might not exist\)$/);
        } else if (err.code === Code.Unauthenticated) observed[label] = 'unauth';
        else observed[label] = `error ${Code[err.code]}: ${err.rawMessage}`;
        assert.equal(await k.auditLength(), before, `${cell} by ${label} was refused but changed state`);
      }
      const o = observed[label];
      if (o === 'allow' || o === 'deny' || o === 'unauth') totals[o]++;
    }
    assert.deepEqual(observed, want, cell);
  }

  const owners = ['dpA', 'mcA', 'mpA', 'duchyA'] as const;
  const certs = (caller: Caller) => k.client(Certificates, caller);
  /** The owner registers a fresh certificate (so write cells never depend on each other). */
  const fresh = async (owner: Owner) => {
    const party = parties[owner];
    const c = await certs(as(party)).createCertificate({ parent: party.name, certificate: { x509Der: party.issueLeaf().der } });
    return c.name;
  };

  for (const owner of owners) {
    it(`GetCertificate of ${owner}`, () => row(`GetCertificate ${owner}`, (c) => certs(c).getCertificate({ name: parties[owner].signing.name })));
    it(`ListCertificates of ${owner}`, () => row(`ListCertificates ${owner}`, (c) => certs(c).listCertificates({ parent: parties[owner].name })));
    it(`CreateCertificate under ${owner}`, () =>
      row(`CreateCertificate ${owner}`, (c) =>
        certs(c).createCertificate({ parent: parties[owner].name, certificate: { x509Der: parties[owner].issueLeaf().der } }),
      ));
    it(`RevokeCertificate of ${owner}`, () =>
      row(
        `RevokeCertificate ${owner}`,
        (c, name) => certs(c).revokeCertificate({ name, revocationState: State.HOLD }),
        () => fresh(owner),
      ));
    it(`ReleaseCertificateHold of ${owner}`, () =>
      row(
        `ReleaseCertificateHold ${owner}`,
        (c, name) => certs(c).releaseCertificateHold({ name }),
        async () => {
          const name = await fresh(owner);
          await certs(as(parties[owner])).revokeCertificate({ name, revocationState: State.HOLD });
          return name;
        },
      ));
  }

  for (const owner of ['dpA', 'mcA'] as const) {
    it(`UpdatePublicKey of ${owner}`, () =>
      row(
        `UpdatePublicKey ${owner}`,
        (c, publicKey) => k.client(PublicKeys, c).updatePublicKey({ publicKey }),
        async () => {
          const party = parties[owner];
          const leaf = party.issueLeaf();
          const registered = await certs(as(party)).createCertificate({ parent: party.name, certificate: { x509Der: leaf.der } });
          const { signed } = signedEncryptionPublicKey(leaf.privateKey);
          return { name: `${party.name}/publicKey`, publicKey: signed, certificate: registered.name };
        },
      ));
  }

  it('GetDataProvider', () => row('GetDataProvider dpA', (c) => k.client(DataProviders, c).getDataProvider({ name: parties.dpA.name })));
  it('GetMeasurementConsumer', () =>
    row('GetMeasurementConsumer mcA', (c) => k.client(MeasurementConsumers, c).getMeasurementConsumer({ name: parties.mcA.name })));
  it('GetModelProvider', () => row('GetModelProvider mpA', (c) => k.client(ModelProviders, c).getModelProvider({ name: parties.mpA.name })));

  it('ListModelProviders', () => row('ListModelProviders', (c) => k.client(ModelProviders, c).listModelProviders({})));

  const dps = (c: Caller) => k.client(DataProviders, c);
  const dpA = () => parties.dpA.name;
  const modelLine = () => `${parties.mpA.name}/modelSuites/AAAAAAAAAAE/modelLines/AAAAAAAAAAI`;
  const interval = { startTime: { seconds: 100n }, endTime: { seconds: 200n } };
  it('ReplaceDataProviderRequiredDuchies', () =>
    row('ReplaceDataProviderRequiredDuchies dpA', (c) => dps(c).replaceDataProviderRequiredDuchies({ name: dpA(), requiredDuchies: [parties.duchyA.name] })));
  it('ReplaceDataAvailabilityIntervals', () =>
    row('ReplaceDataAvailabilityIntervals dpA', (c) =>
      dps(c).replaceDataAvailabilityIntervals({ name: dpA(), dataAvailabilityIntervals: [{ key: modelLine(), value: interval }] }),
    ));
  it('ReplaceDataAvailabilityInterval', () =>
    row('ReplaceDataAvailabilityInterval dpA', (c) => dps(c).replaceDataAvailabilityInterval({ name: dpA(), dataAvailabilityInterval: interval })));
  it('ReplaceDataProviderCapabilities', () =>
    row('ReplaceDataProviderCapabilities dpA', (c) => dps(c).replaceDataProviderCapabilities({ name: dpA(), capabilities: { trusTeeSupported: true } })));

  const group = () => ({ measurementConsumer: parties.mcA.name, eventGroupReferenceId: 'matrix' });
  it('BatchCreateEventGroups', () =>
    row('BatchCreateEventGroups dpA', (c) => k.client(EventGroups, c).batchCreateEventGroups({ parent: dpA(), requests: [{ eventGroup: group() }] })));
  it('BatchUpdateEventGroups', () =>
    row(
      'BatchUpdateEventGroups dpA',
      (c, name) => k.client(EventGroups, c).batchUpdateEventGroups({ parent: dpA(), requests: [{ eventGroup: { ...group(), name } }] }),
      async () => (await k.client(EventGroups, as(parties.dpA)).createEventGroup({ parent: dpA(), eventGroup: group() })).name,
    ));

  it('covered every cell', (t) => {
    const cells = totals.allow + totals.deny + totals.unauth;
    t.diagnostic(`authorization matrix: ${cells} cells (${totals.allow} allowed, ${totals.deny} denied, ${totals.unauth} unauthenticated)`);
    assert.equal(cells, CALLERS.length * Object.keys(ALLOWED).length);
  });
});
