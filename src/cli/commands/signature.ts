import type { Command } from 'commander';

export function registerSignatureCommands(_program: Command): void {}
