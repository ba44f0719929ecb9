import { HaloError } from '../lib/index.js';

/** Every failure of the Kubernetes part; callers switch on `code`. */
export type K8sErrorCode =
  | 'KUSTOMIZATION_NOT_FOUND' // no kustomization.yaml (or .yml, Kustomization) in the directory
  | 'KUSTOMIZATION_INVALID' // not YAML, or a secretGenerator of the wrong shape
  | 'GENERATOR_NOT_FOUND' // no secretGenerator with that name (and namespace)
  | 'GENERATOR_MISMATCH' // the update contradicts the existing generator (type, literal keys)
  | 'INVALID_SECRET' // a bad Secret name or data key, or a TLS Secret without tls.crt/tls.key
  | 'TLS_KEY_MISMATCH' // tls.key is not the key of tls.crt
  | 'SECRET_FILE_MISSING' // a file a generator names cannot be read
  | 'WRITE_FAILED' // the new generation or kustomization.yaml could not be written
  | 'ROLLBACK_UNAVAILABLE' // nothing to roll back to, or its files are gone
  | 'KUBECTL_NOT_FOUND' // the configured command does not exist
  | 'KUBECTL_FAILED' // non-zero exit; the message carries the first line of stderr
  | 'KUBECTL_TIMEOUT'
  | 'RENDER_INVALID' // the rendered output is not YAML manifests
  | 'SECRET_NOT_RENDERED' // the rendered output has no Secret for the generator
  | 'INVALID_ENDPOINT'; // a rollout-check endpoint or option that cannot work

export class K8sError extends HaloError<K8sErrorCode> {}
