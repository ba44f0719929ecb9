/**
 * Kubernetes side of a rotation: Kustomization Secret directories written
 * crash-safely, `kubectl kustomize` / `kubectl apply -k`, the dry-run diff,
 * and the check that an endpoint serves the new certificate.
 */
export { K8sError, type K8sErrorCode } from './errors.js';
export {
  KUSTOMIZATION_FILE_NAMES,
  TLS_SECRET_TYPE,
  findGenerator,
  findKustomizationFile,
  parseFileSource,
  readKustomization,
  type GeneratorId,
  type GeneratorOptions,
  type Kustomization,
  type SecretFileRef,
  type SecretGenerator,
} from './kustomization.js';
export {
  GENERATIONS_DIR,
  planSecretUpdates,
  pruneGenerations,
  referencedGenerations,
  rollbackSecretGenerators,
  updateSecretGenerators,
  type GenerationStep,
  type PlannedUpdate,
  type RollbackResult,
  type SecretFileInput,
  type SecretUpdate,
  type UpdateOptions,
  type UpdateResult,
  type UpdatedSecret,
} from './secret-generations.js';
export { readSecretFiles, type SecretFile, type SecretFiles } from './secret-files.js';
export { assertTlsPair, certificateBundle, tlsSecretUpdate, type CertificatesInput, type TlsSecretInput } from './tls-secret.js';
export { publicKeySkid, summarizeCertificate, summarizeSecretFile, type CertificateSummary, type SecretFileSummary } from './secret-summary.js';
export { diffSecretData, type SecretData, type SecretDiff, type SecretKeyChange, type SecretKeyChangeKind } from './secret-diff.js';
export {
  DEFAULT_APPLY_COMMAND,
  DEFAULT_RENDER_COMMAND,
  applyKustomization,
  renderKustomization,
  runCommand,
  type ApplyResult,
  type CommandOutput,
  type KubectlOptions,
} from './kubectl.js';
export { findRenderedSecret, parseRenderedManifests, requireRenderedSecret, type RenderedManifests, type RenderedSecret } from './rendered-secrets.js';
export { previewSecretUpdates, type PreviewOptions } from './dry-run.js';
export {
  probeServedCertificate,
  waitForServedCertificate,
  type CertificateRef,
  type ExpectedCertificate,
  type ProbeOptions,
  type ProbeResult,
  type RolloutCheckResult,
  type RolloutWaitOptions,
  type ServedCertificate,
  type TlsEndpoint,
  type TrustVerdict,
  type UnreachableReason,
} from './rollout-check.js';
