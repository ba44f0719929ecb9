/** Host name and IP checks against subjectAltNames (RFC 6125 / RFC 9525). */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { PublicSuffixList, dnsSanMatches, isValidDnsName, normalizeHost, parseIp } from '../../src/pki/hostname.js';
import { formatIp } from '../../src/pki/general-name.js';

test('wildcards: whole left-most label only, exactly one label, not over a suffix', () => {
  assert.ok(dnsSanMatches('*.example.com', 'foo.example.com'));
  assert.ok(dnsSanMatches('*.Example.COM', 'foo.example.com'));
  assert.ok(!dnsSanMatches('*.example.com', 'example.com'));
  assert.ok(!dnsSanMatches('*.example.com', 'a.b.example.com'));
  assert.ok(!dnsSanMatches('f*.example.com', 'foo.example.com'));
  assert.ok(!dnsSanMatches('foo.*.example.com', 'foo.bar.example.com'));
  assert.ok(!dnsSanMatches('xn--*-1b3c148a.example.com', 'xn--bliss-1b3c148a.example.com'));
  assert.ok(!dnsSanMatches('*', 'com'));
  assert.ok(!dnsSanMatches('*.com', 'example.com'));
  assert.ok(dnsSanMatches('example.com', 'example.com'));
  assert.ok(!dnsSanMatches('foo_bar.example.com', 'foo_bar.example.com'));
});

test('a public suffix list refuses *.co.uk and private suffixes', () => {
  const psl = new PublicSuffixList('// comment\ncom\nco.uk\n*.ck\n!www.ck\ns3.amazonaws.com\n');
  assert.ok(psl.isPublicSuffix('co.uk') && psl.isPublicSuffix('com') && psl.isPublicSuffix('foo.ck'));
  assert.ok(!psl.isPublicSuffix('www.ck') && !psl.isPublicSuffix('example.co.uk'));
  assert.ok(!dnsSanMatches('*.co.uk', 'example.co.uk', psl));
  assert.ok(!dnsSanMatches('*.s3.amazonaws.com', 'bucket.s3.amazonaws.com', psl));
  assert.ok(dnsSanMatches('*.example.co.uk', 'www.example.co.uk', psl));
  const system = '/usr/share/publicsuffix/public_suffix_list.dat';
  if (existsSync(system)) assert.ok(PublicSuffixList.load(system).isPublicSuffix('co.uk'));
});

test('reference hosts: IDNA to A-labels, case folded, LDH only', () => {
  assert.equal(normalizeHost('Bücher.Example.'), 'xn--bcher-kva.example');
  assert.equal(normalizeHost('foo_bar.example.com'), undefined);
  assert.equal(normalizeHost('-bad.example'), undefined);
  assert.ok(isValidDnsName('a-1.example'));
  assert.ok(!isValidDnsName('1.2.3.4'));
});

test('IP literals: strict dotted quads and RFC 5952 text', () => {
  assert.deepEqual(parseIp('10.0.0.1'), Uint8Array.of(10, 0, 0, 1));
  assert.equal(parseIp('010.0.0.1'), undefined);
  assert.equal(parseIp('0xC0A80101'), undefined);
  assert.equal(formatIp(parseIp('2001:0DB8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
  assert.equal(formatIp(parseIp('[::1]')!), '::1');
  assert.equal(formatIp(parseIp('::ffff:1.2.3.4')!), '::ffff:102:304');
  assert.equal(parseIp('1::2::3'), undefined);
});
