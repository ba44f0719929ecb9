/**
 * `npm run bench`: runs every benchmark section in one process and prints
 * ours beside a same-run baseline. Pass section names to run only those.
 */
const sections: Record<string, () => Promise<void>> = {
  startup: async () => (await import('./startup.js')).run(),
  hybrid: async () => (await import('./hybrid.js')).run(),
  signature: async () => (await import('./signature.js')).run(),
  'pki-issue': async () => (await import('./pki-issue.js')).run(),
  'pki-validate': async () => (await import('./pki-validate.js')).run(),
  kingdom: async () => (await import('./kingdom.js')).run(),
  'kingdom-store': async () => (await import('./kingdom-store.js')).run(),
  'kingdom-attacks': async () => (await import('./kingdom-attacks.js')).run(),
  'kingdom-memory': async () => (await import('./kingdom-memory.js')).run(),
  'scale-pages': async () => (await import('./scale-pages.js')).run(),
  rotation: async () => (await import('./rotation.js')).run(),
  reencrypt: async () => (await import('./reencrypt.js')).run(),
  'key-at-rest': async () => (await import('./key-at-rest.js')).run(),
};

const wanted = process.argv.slice(2);
for (const [name, run] of Object.entries(sections)) {
  if (wanted.length && !wanted.includes(name)) continue;
  await run();
}
