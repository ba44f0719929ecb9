/**
 * Run by crash-safety.test.ts as its own process: rotates the TLS Secret in
 * a kustomization directory and SIGKILLs itself at the named step (the n-th
 * time it is reached), so the test sees what a real crash leaves behind.
 *
 * argv: DIR STEP OCCURRENCE CERT_PEM_FILE KEY_PEM_FILE
 */
import { readFileSync } from 'node:fs';
import { tlsSecretUpdate, updateSecretGenerators, type GenerationStep } from '../../src/k8s/index.js';

const [dir, step, occurrence, certFile, keyFile] = process.argv.slice(2) as [string, GenerationStep, string, string, string];
let seen = 0;
updateSecretGenerators(dir, [tlsSecretUpdate({ name: 'edp7-tls', certificateChain: readFileSync(certFile, 'utf8'), privateKey: readFileSync(keyFile, 'utf8') })], {
  onStep: (reached) => {
    if (reached === step && ++seen === Number(occurrence)) process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write('finished without crashing\n');
