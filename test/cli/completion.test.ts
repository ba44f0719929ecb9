/**
 * `completion bash|zsh|fish` of the three binaries: generated from the
 * command tree, the bash script parses (`bash -n`) and, sourced into a real
 * bash with COMP_WORDS set, completes subcommands and options at any depth.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { assertUsage, buildIfStale, haloKeys, runBin, scratchDir } from './run-cli.js';

const { file } = scratchDir('completion-');

/** COMPREPLY of the generated function for `words` (the last word is the one being completed). */
function complete(script: string, fn: string, words: string[]): string[] {
  const path = file(`${fn}.bash`);
  writeFileSync(path, script);
  const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('bash', ['-c', `source '${path}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout.split('\n').filter((l) => l.length > 0);
}

describe('shell completion', () => {
  before(() => buildIfStale('src/cli/completion.ts'));

  it('halo-keys completion bash parses and completes commands, nested subcommands and options', () => {
    const r = haloKeys(['completion', 'bash']);
    assert.equal(r.code, 0, r.stderr);
    const syntax = spawnSync('bash', ['-n'], { input: r.stdout, encoding: 'utf8' });
    assert.equal(syntax.status, 0, syntax.stderr);
    assert.deepEqual(complete(r.stdout, '_halo_keys', ['halo-keys', 'ro']), ['rotate']);
    assert.deepEqual(complete(r.stdout, '_halo_keys', ['halo-keys', 're']).sort(), ['reencrypt', 'register', 'registration', 'rehearse']);
    assert.deepEqual(complete(r.stdout, '_halo_keys', ['halo-keys', 'kingdom', 'admin', 'akid', '']).sort(), ['list', 'remove', 'set']);
    assert.deepEqual(complete(r.stdout, '_halo_keys', ['halo-keys', 'config', '']).sort(), ['set', 'show', 'unset']);
    // Options of the command the words name, after option values.
    assert.deepEqual(complete(r.stdout, '_halo_keys', ['halo-keys', 'rotate', '--dir', 'edp1', '--dr']), ['--dry-run']);
    assert.deepEqual(complete(r.stdout, '_halo_keys', ['halo-keys', 'status', '--no-k']), ['--no-kingdom']);
  });

  it('MeasurementSystem and EncryptionPublicKeys complete the same way, without a Kingdom target', () => {
    const ms = runBin('bin/MeasurementSystem.js', ['completion', 'bash']);
    assert.equal(ms.code, 0, ms.stderr);
    assert.deepEqual(complete(ms.stdout, '_MeasurementSystem', ['MeasurementSystem', 'certificates', '']).sort(), ['create', 'get', 'list', 'release-hold', 'revoke']);
    assert.deepEqual(complete(ms.stdout, '_MeasurementSystem', ['MeasurementSystem', '--kingdom-public-api-t']), ['--kingdom-public-api-target']);
    const epk = runBin('bin/EncryptionPublicKeys.js', ['completion', 'bash']);
    assert.equal(epk.code, 0, epk.stderr);
    assert.deepEqual(complete(epk.stdout, '_EncryptionPublicKeys', ['EncryptionPublicKeys', 'se']), ['serialize']);
    assert.deepEqual(complete(epk.stdout, '_EncryptionPublicKeys', ['EncryptionPublicKeys', 'serialize', '--j']), ['--json']);
  });

  it('zsh loads the bash function through bashcompinit; fish gets one complete line per command and option', () => {
    const zsh = haloKeys(['completion', 'zsh']);
    assert.equal(zsh.code, 0, zsh.stderr);
    assert.match(zsh.stdout, /^#compdef halo-keys\n/);
    assert.match(zsh.stdout, /^autoload -U \+X bashcompinit && bashcompinit$/m);
    assert.match(zsh.stdout, /^complete -o default -F _halo_keys halo-keys$/m);
    const fish = haloKeys(['completion', 'fish']);
    assert.equal(fish.code, 0, fish.stderr);
    assert.match(fish.stdout, /^complete -c halo-keys -f -n '__halo_keys_at '\\''config'\\''' -a 'show set unset'$/m);
    assert.match(fish.stdout, /^complete -c halo-keys -n '__halo_keys_at '\\''rotate'\\''' -l dry-run -d /m);
    assertUsage(haloKeys(['completion', 'tcsh']), /value 'tcsh' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish/);
  });
});
