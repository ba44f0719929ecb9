// Stands in for `kubectl ... apply -k DIR` in tests: there is no Kubernetes
// API server here. It records its argv, renders DIR with the real
// `kubectl kustomize` (what apply would send), and prints kubectl-style lines.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

const args = process.argv.slice(2);
const k = args.indexOf('-k');
if (args[k - 1] !== 'apply' || k < 0 || args.length !== k + 2) {
  process.stderr.write('error: expected ... apply -k DIR\n');
  process.exit(1);
}
const dir = args[k + 1];
const rendered = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
writeFileSync(process.env.APPLY_RECORD, JSON.stringify({ argv: args, rendered }));
for (const doc of parseAllDocuments(rendered)) {
  const { kind, metadata } = doc.toJS();
  process.stdout.write(`${kind.toLowerCase()}/${metadata.name} created\n`);
}
