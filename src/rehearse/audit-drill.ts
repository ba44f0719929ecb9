/**
 * The last drill: every keyring's audit trail and the Kingdom's audit log
 * verified with the operators' commands. The Kingdom is stopped first: on
 * the embedded database `kingdom audit` reads the database itself.
 */
import { Drill, expect, type DrillResult } from './checks.js';
import type { DrillContext } from './drill-context.js';

export async function auditChains(ctx: DrillContext): Promise<DrillResult> {
  const drill = new Drill('audit', 'the audit chain of every keyring and of the Kingdom verifies', ctx.progress);
  for (const p of ctx.cast.all) {
    await drill.check(`${p.label}: audit verify`, async () => {
      const r = await ctx.run.haloKeys(['audit', 'verify', '--dir', p.dir]);
      expect(r.code === 0, `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
      return r.stdout.trim().split('\n')[0] ?? '';
    });
  }
  await drill.check('the Kingdom stops cleanly (SIGTERM)', async () => {
    const code = await ctx.kingdom.stop();
    expect(code === 0, `exit ${code}`);
  });
  await drill.check('the Kingdom: kingdom audit verify', async () => {
    const db = ctx.kingdom.databaseUrl ? ['--database-url', ctx.kingdom.databaseUrl] : [];
    const r = await ctx.run.haloKeys(['kingdom', 'audit', '--data-dir', ctx.kingdom.dataDir, ...db, 'verify']);
    expect(r.code === 0, `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
    return r.stdout.trim().split('\n')[0] ?? '';
  });
  return drill.finish();
}
